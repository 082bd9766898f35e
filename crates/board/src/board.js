// The track filter of a workload page: the tables stay whole without it.
document.querySelectorAll(".filter button").forEach(function (b) {
  b.addEventListener("click", function () {
    var show = b.getAttribute("data-show");
    document.querySelectorAll(".filter button").forEach(function (o) {
      o.setAttribute("aria-pressed", o === b ? "true" : "false");
    });
    document.querySelectorAll("div.track").forEach(function (t) {
      t.classList.toggle("hidden", show !== "all" && t.getAttribute("data-track") !== show);
    });
  });
});
