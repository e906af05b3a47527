// Behaviour that htmx does not cover: copying the Redirect URI.
"use strict";

function copyFrom(button) {
  const source = document.querySelector(button.dataset.copy);
  const status = button.closest(".field-control").querySelector(".copy-status");
  const done = (message) => { if (status) { status.textContent = message; } };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(source.value).then(
      () => done("Copied to the clipboard."),
      () => { source.select(); done("Press Ctrl+C to copy."); }
    );
  } else {
    source.select();
    done(document.execCommand("copy") ? "Copied to the clipboard." : "Press Ctrl+C to copy.");
  }
}

function enhance(root) {
  root.querySelectorAll("[data-copy]").forEach((button) => {
    button.hidden = false;
    if (!button.dataset.enhanced) {
      button.dataset.enhanced = "1";
      button.addEventListener("click", () => copyFrom(button));
    }
  });
}

document.addEventListener("DOMContentLoaded", () => enhance(document));
document.addEventListener("htmx:load", (event) => enhance(event.detail.elt));
