// Mail's live list: a conversation that the poll brings to the top leaves its older row below.
"use strict";

document.addEventListener("htmx:load", (event) => {
  const row = event.detail.elt;
  if (!(row instanceof Element) || !row.matches("#conversations > li.conversation")) {
    return;
  }
  document.querySelectorAll("#conversations > li.conversation").forEach((other) => {
    if (other !== row && other.id === row.id) {
      other.remove();
    }
  });
});
