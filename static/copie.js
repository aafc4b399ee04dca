// Copy buttons: a button with data-copie="ID" copies the value of the field ID and says
// so in the live region data-copie-statut="ID". Served from /static (the CSP forbids
// inline scripts); without script, the field stays selectable.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copie]");
  if (!button) { return; }
  var id = button.getAttribute("data-copie");
  var field = document.getElementById(id);
  var status = document.querySelector('[data-copie-statut="' + id + '"]');
  if (!field) { return; }
  var say = function (text) { if (status) { status.textContent = text; } };
  field.select();
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(field.value).then(
      function () { say("Lien copié."); },
      function () { say("Copie impossible : le lien est sélectionné, copiez-le avec Ctrl+C."); }
    );
  } else {
    say("Le lien est sélectionné : copiez-le avec Ctrl+C.");
  }
});
