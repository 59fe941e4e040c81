// The listing form's photo: a preview of the chosen file before it is sent, and a
// clear word at once for a file that will not be accepted (the server checks again).

const MAX_BYTES = 5 * 1024 * 1024;
const TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif"];

const input = document.querySelector("[data-photo-input]");
const preview = document.querySelector("[data-photo-preview]");
const error = document.querySelector("[data-photo-error]");
let objectUrl = null;

function complain(text) {
  error.textContent = text;
  error.hidden = !text;
  if (text) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

if (input && preview) {
  input.addEventListener("change", () => {
    const file = input.files && input.files[0];
    if (!file) return;
    if (!TYPES.includes(file.type)) {
      complain("Choose a JPEG, PNG, WebP or GIF picture.");
      input.value = "";
      return;
    }
    if (file.size > MAX_BYTES) {
      complain("This picture is larger than 5 MB.");
      input.value = "";
      return;
    }
    complain("");
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(file);
    const img = document.createElement("img");
    img.src = objectUrl;
    img.alt = `Preview of the chosen photo, ${file.name}`;
    img.dataset.previewImage = "";
    preview.replaceChildren(img);
  });
}
