// Copy text to the clipboard. The Clipboard API exists only in secure contexts (HTTPS, or
// localhost): on plain HTTP from another host it is missing, so fall back to selecting the text
// in a hidden textarea and execCommand("copy"), as ThingsBoard's UI does.

import { toast } from "./ui.js";

function copyWithTextarea(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  // Inside an open modal dialog, only its subtree can take the selection.
  (document.querySelector("dialog[open]") || document.body).append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand("copy");
  } finally {
    area.remove();
  }
  return copied;
}

/** Copy `text`; resolves true when it reached the clipboard. */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // permission refused or no focus: try the old way
    }
  }
  return copyWithTextarea(text);
}

/** Copy `text` and say so in a toast (`what` names it: "Access token"). */
export async function copyWithToast(text, what) {
  if (await copyText(text)) toast(`${what} copied to the clipboard`, "success");
  else toast(`Could not copy the ${what.toLowerCase()}: select it and copy by hand`, "error");
}
