// Behaviour that htmx does not cover: copying the Redirect URI, the sign-in popup of Enable, focus on errors,
// focus after Show older and the state of a filter whose message changed.
"use strict";

const POPUP_NAME = "oroflask-microsoft";
let authorizationWindow = null;

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

// The popup must open inside the click itself, or the browser blocks it; htmx then records
// the attempt, and its answer tells where the popup goes.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-authorize]");
  if (button && !button.disabled) {
    authorizationWindow = window.open("", POPUP_NAME, "popup,width=520,height=700");
  }
}, true);

document.addEventListener("htmx:afterRequest", (event) => {
  const failed = !event.detail.successful || event.detail.xhr.status >= 400;
  if (failed && event.detail.elt.matches("[data-authorize]") && authorizationWindow) {
    authorizationWindow.close();
    authorizationWindow = null;
  }
});

document.addEventListener("authorization-started", (event) => {
  const { url, closedUrl } = event.detail;
  if (authorizationWindow && !authorizationWindow.closed) {
    authorizationWindow.location.href = url;
    watchUntilClosed(authorizationWindow, closedUrl);
  } else {
    window.location.href = url + "?window=same";  // popups blocked: sign in in this window
  }
});

// One watcher at a time: a second Enable reuses the window of the first, and the first attempt's
// watcher would report that window's closing as its own, over the newest attempt's outcome.
let windowWatcher = null;

function watchUntilClosed(popup, closedUrl) {
  clearInterval(windowWatcher);
  const timer = setInterval(() => {
    if (!popup.closed) { return; }
    clearInterval(timer);
    const status = document.getElementById("authorization-status");
    if (status && status.hasAttribute("hx-get")) {
      htmx.ajax("POST", closedUrl, { source: status, target: status, swap: "outerHTML" });
    }
  }, 500);
  windowWatcher = timer;
}

// A change made while another save of the form is under way waits in the form's queue (hx-sync).
// When that save's answer replaces the changed input or checkbox, htmx drops the waiting request
// (its element has left the page), and the requests queued after it wait for a next one. Once the
// answer is in place, the change is made again on the element that replaced it.
const unsentChanges = new Set();

document.addEventListener("change", (event) => {
  if (event.target.matches(".field [hx-post]")) { unsentChanges.add(event.target); }
}, true);

document.addEventListener("htmx:beforeRequest", (event) => unsentChanges.delete(event.detail.elt));

document.addEventListener("htmx:afterRequest", () => {
  // After htmx has ended the request and tried the queued ones, in the same task.
  queueMicrotask(() => {
    unsentChanges.forEach((lost) => {
      if (lost.isConnected) { return; }
      unsentChanges.delete(lost);
      const replacement = document.getElementById(lost.id);
      if (!replacement || replacement.disabled) { return; }
      if (lost.type === "checkbox") {
        if (replacement.checked === lost.checked) { return; }
        replacement.checked = lost.checked;
      } else {
        if (replacement.readOnly || replacement.value === lost.value) { return; }
        replacement.value = lost.value;
      }
      replacement.dispatchEvent(new Event("change", { bubbles: true }));
    });
  });
});

function closeFinishedPopup() {
  const result = document.getElementById("authorization-result");
  if (!result || !window.opener || window.name !== POPUP_NAME) { return; }
  const delay = result.dataset.closePopup === "true" ? 1500 : 6000;
  setTimeout(() => window.close(), delay);
  result.querySelectorAll("[data-close-window]").forEach((link) => {
    link.textContent = "Close this window";
    link.addEventListener("click", (event) => { event.preventDefault(); window.close(); });
  });
}

// A form that comes back with errors puts the keyboard on the first field to correct; its
// description then reads the error out.
function focusFirstError() {
  const field = document.querySelector('form [aria-invalid="true"]');
  if (field && (!document.activeElement || document.activeElement === document.body)) {
    field.focus();
  }
}

// A filter's message comes on its own, beside the filter htmx leaves in place: the field and its
// row then say whether it is in error, as the page does when served whole.
document.addEventListener("htmx:oobAfterSwap", (event) => {
  const message = event.detail.target;
  const field = message.dataset.field && document.getElementById(message.dataset.field);
  if (!field) { return; }
  const wrong = message.textContent.trim() !== "";
  if (wrong) { field.setAttribute("aria-invalid", "true"); } else { field.removeAttribute("aria-invalid"); }
  field.closest(".form-row").classList.toggle("has-error", wrong);
});

document.addEventListener("DOMContentLoaded", () => {
  enhance(document);
  closeFinishedPopup();
  focusFirstError();
});
document.addEventListener("htmx:load", (event) => {
  enhance(event.detail.elt);
  // Show older replaced itself, which had the focus, with older rows: the keyboard goes on from the first.
  if (event.detail.elt.matches("[data-older-start]")) { event.detail.elt.focus(); }
});
