// Filter-as-you-type on the list of people (the chooser of a government site): the
// field [data-filtre-champ] hides the radios whose [data-nom] does not contain every
// word typed, ignoring accents and case, and the live region [data-filtre-statut]
// says how many remain. Served from /static (the CSP forbids inline scripts); without
// script the block stays hidden and the server-side search (?q=) does the work.
(function () {
  var block = document.querySelector("[data-filtre]");
  if (!block) { return; }
  var field = block.querySelector("[data-filtre-champ]");
  var status = block.querySelector("[data-filtre-statut]");
  var items = Array.prototype.slice.call(document.querySelectorAll("[data-nom]"));
  if (!field || !status || items.length === 0) { return; }
  var fold = function (s) {
    return s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[’ʼ]/g, "'").toLowerCase();
  };
  var names = items.map(function (item) { return fold(item.getAttribute("data-nom") || ""); });
  var timer = null;
  var apply = function () {
    var words = fold(field.value).split(/\s+/).filter(function (w) { return w.length > 0; });
    var shown = 0;
    items.forEach(function (item, i) {
      var match = words.every(function (w) { return names[i].indexOf(w) !== -1; });
      // The stylesheet shows radio groups as flex boxes, which `hidden` alone does not
      // override: the display is set too (through the CSSOM, which the CSP allows).
      item.hidden = !match;
      item.style.display = match ? "" : "none";
      if (match) {
        shown += 1;
      } else {
        var radio = item.querySelector("input[type=radio]");
        if (radio && radio.checked) { radio.checked = false; }
      }
    });
    if (words.length === 0) {
      status.textContent = items.length + (items.length > 1 ? " personnes affichées." : " personne affichée.");
    } else if (shown === 0) {
      status.textContent = "Aucune personne ne correspond : effacez le filtre ou utilisez la recherche ci-dessus.";
    } else {
      status.textContent = shown + (shown > 1 ? " personnes correspondent." : " personne correspond.");
    }
  };
  field.addEventListener("input", function () {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(apply, 250);
  });
  block.hidden = false;
})();
