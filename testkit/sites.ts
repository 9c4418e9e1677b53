// Bytes tests share: the smallest real PNG (1×1).
export const PNG_1X1 = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

/** A contact form declaration, as update_site_settings takes it. */
export const CONTACT_FORM = {
  id: "contact",
  title: "Contact us",
  fields: [
    { name: "name", type: "text", required: true, max_length: 100 },
    { name: "email", type: "email", required: true },
    { name: "guests", type: "number" },
    { name: "message", type: "textarea" },
    { name: "newsletter", type: "checkbox" },
  ],
};
