// Progressive enhancement of the ticket and incident pages; every form works without it.
(function () {
  "use strict";

  function toggle(rows, shown) {
    rows.forEach(function (row) {
      row.hidden = !shown;
    });
  }

  // An amount and its currency are asked for billing credits only: show them for a credit.
  var kind = document.getElementById("id_approval_kind");
  if (kind) {
    var creditRows = document.querySelectorAll("#hd-action-approval [data-credit-only]");
    var showCredit = function () {
      toggle(creditRows, kind.value === "billing_credit");
    };
    kind.addEventListener("change", showCredit);
    showCredit();
  }

  // An incident's credit: the fixed amount, or the share and the customers' fees.
  var rules = document.querySelectorAll("#hd-action-credit input[name=rule]");
  if (rules.length) {
    var fixedRows = document.querySelectorAll("#hd-action-credit [data-credit-fixed]");
    var shareRows = document.querySelectorAll("#hd-action-credit [data-credit-share]");
    var showRule = function () {
      var chosen = document.querySelector("#hd-action-credit input[name=rule]:checked");
      var share = chosen !== null && chosen.value === "share";
      toggle(fixedRows, !share);
      toggle(shareRows, share);
    };
    rules.forEach(function (rule) {
      rule.addEventListener("change", showRule);
    });
    showRule();
  }
})();
