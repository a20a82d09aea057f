() => {
  // Small behaviours Gradio's components do not have (loaded by webui/look.py; described in docs/ui.md):
  // - collapsible step titles act as real buttons: Space opens/closes them like Enter, aria-expanded tells
  //   screen readers their state, and the arrow inside is not a second, unlabelled button;
  // - the message box keeps an accessible name, gets the focus back after a reply when it had it when sending,
  //   and takes the focus on load only on wide screens (a phone would jump to it, past the title and status);
  // - icon buttons without a name get the one their tooltip shows;
  const INPUT = "#chat-input textarea";
  const wide = window.matchMedia("(min-width: 769px) and (pointer: fine)");

  function fixStepTitles(root) {
    for (const title of root.querySelectorAll(".thought-group > .title[role=button]")) {
      const open = title.parentElement.children.length > 1;  // the step's body follows the title when open
      if (title.getAttribute("aria-expanded") !== String(open)) title.setAttribute("aria-expanded", String(open));
      const arrow = title.querySelector("button");
      if (arrow && arrow.tabIndex !== -1) {
        arrow.tabIndex = -1;
        arrow.setAttribute("aria-hidden", "true");
      }
    }
  }

  // Space on a step title opens or closes it, as Enter does (one listener for every title, present or future).
  document.addEventListener("keydown", (e) => {
    if (e.key !== " " && e.key !== "Spacebar") return;
    const title = e.target.closest && e.target.closest(".thought-group > .title[role=button]");
    if (title && e.target === title) {
      e.preventDefault();
      title.click();
    }
  }, true);

  function nameIconButtons(root) {
    for (const button of root.querySelectorAll("button[aria-label=''], button:not([aria-label])")) {
      if (button.getAttribute("aria-hidden") === "true" || button.textContent.trim()) continue;
      const name = button.getAttribute("title") || (button.querySelector("img") ? "Enlarge image" : "");
      if (name) button.setAttribute("aria-label", name);
    }
  }

  function nameInput() {
    const box = document.querySelector(INPUT);
    if (box && box.getAttribute("aria-label") !== "Message") box.setAttribute("aria-label", "Message");
    return box;
  }

  // After sending from the message box: 1 = sent, 2 = the reply is running (box locked); back to 0 when the box
  // is unlocked again, and the focus returns to it unless the person has moved it elsewhere meanwhile.
  let phase = 0;
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && e.target.matches && e.target.matches(INPUT)) phase = 1;
  }, true);
  document.addEventListener("click", (e) => {
    if (e.target.closest && e.target.closest("#chat-input .submit-button")) phase = 1;
  }, true);

  function refocus() {
    const box = document.querySelector(INPUT);
    if (!box || phase === 0) return;
    const busy = box.disabled || !!document.querySelector("#chat-input .stop-button");
    if (phase === 1 && busy) phase = 2;
    else if (phase === 2 && !busy) {
      phase = 0;
      if (document.activeElement === document.body || document.activeElement === null) {
        box.focus({ preventScroll: true });
      }
    }
  }

  let queued = false;
  function update() {
    queued = false;
    fixStepTitles(document);
    nameIconButtons(document);
    nameInput();
    refocus();
  }
  new MutationObserver(() => {
    if (!queued) {
      queued = true;
      requestAnimationFrame(update);
    }
  }).observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["disabled"] });

  // First view: at the top on a phone; the message box focused on a desktop.
  const start = () => {
    const box = nameInput();
    if (!box) return setTimeout(start, 100);
    if (wide.matches) box.focus({ preventScroll: true });
    else window.scrollTo(0, 0);
  };
  start();
}
