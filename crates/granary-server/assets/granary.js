// granary's only script. Everything works without it; it only saves a click:
// filter and selector forms marked data-autosubmit submit as soon as a choice changes,
// and forms marked data-confirm ask first.
document.addEventListener("change", (e) => {
  const form = e.target.closest("form[data-autosubmit]");
  if (!form || e.target.type === "search" || e.target.type === "text") return;
  form.requestSubmit();
});
document.addEventListener("submit", (e) => {
  const msg = e.target.dataset && e.target.dataset.confirm;
  if (msg && !window.confirm(msg)) e.preventDefault();
});
