"""The operator's web console under `/admin/` (ADR-0013): static files bundled in this
package — HTML, CSS and JavaScript modules, no third-party code, nothing fetched from the
internet — that call the JSON admin API with a token kept in memory."""
