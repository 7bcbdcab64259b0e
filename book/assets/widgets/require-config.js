// Tell RequireJS where the widget manager's files are, so the fonts its CSS refers to load from this site
// (embed-amd.js derives its public path from its module's URL; without this it looks beside each page).
(function () {
  var src = document.currentScript && document.currentScript.src;
  if (!src || !window.require) { return; }
  var base = src.slice(0, src.lastIndexOf("/"));
  // The modules are defined inline under these ids; only their URLs (and so the fonts' base) come from the
  // mapping. Both resolve to files directly in this folder.
  window.require.config({ paths: {
    "@jupyter-widgets/html-manager/dist": base,
    "@jupyter-widgets/html-manager": base + "/html-manager"
  } });
})();
