// Progressive enhancement of the ticket page; every form works without it.
(function () {
  "use strict";

  // An amount and its currency are asked for billing credits only: show them for a credit.
  var kind = document.getElementById("id_approval_kind");
  if (!kind) {
    return;
  }
  var rows = document.querySelectorAll("#hd-action-approval [data-credit-only]");
  function update() {
    var credit = kind.value === "billing_credit";
    rows.forEach(function (row) {
      row.hidden = !credit;
    });
  }
  kind.addEventListener("change", update);
  update();
})();
