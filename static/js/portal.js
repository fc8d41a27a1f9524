// Progressive enhancement of the portal; every page works without it.
(function () {
  "use strict";

  // After a refused submission, take the keyboard and the screen reader to what is wrong.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.focus();
  }

  // The data-center site matters only for server problems: show it when one is chosen.
  var siteField = document.querySelector("[data-server-only]");
  var radios = document.querySelectorAll('input[type="radio"][name="category"]');
  if (!siteField || radios.length === 0) {
    return;
  }
  function update() {
    var checked = document.querySelector('input[type="radio"][name="category"]:checked');
    siteField.hidden = !(checked && checked.hasAttribute("data-server"));
  }
  radios.forEach(function (radio) {
    radio.addEventListener("change", update);
  });
  update();
})();
