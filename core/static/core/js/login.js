// The login page first tries a silent refresh: a visitor whose access cookie expired
// but whose refresh cookie still holds goes straight back to `next`.

import { forgetSignedIn, renew } from "./session.js";

const nextPath = document.querySelector("[data-next]").dataset.next || "/";
const resuming = document.querySelector("[data-resuming]");

async function resume() {
  try {
    if (await renew()) {
      resuming.hidden = false;
      location.replace(nextPath);
      return;
    }
  } catch {
    // network trouble: the form is there
  }
  forgetSignedIn();
}

resume();
