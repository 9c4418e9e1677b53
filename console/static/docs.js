// /docs: Swagger UI over /openapi.json, with try-it calls against this server (Authorize takes a bearer token).
// An external file: the page's CSP allows no inline script.
window.addEventListener("DOMContentLoaded", () => {
  // eslint-disable-next-line no-undef
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    docExpansion: "list",
    filter: true,
    tryItOutEnabled: false,
    persistAuthorization: false,
    validatorUrl: null,
  });
});
