// Tables wider than their box (the AE to VAE metrics, the report's, a table on a phone) scroll sideways. A shadow at
// the edge they continue past (page.css) was too faint to be noticed: a table that scrolls is marked here
// (data-scrolls), and page.css writes a line above it that says so, which stays in view while it scrolls.

// whether a table's content is wider than the box it is shown in
export function scrolls(table) {
  return table.clientWidth > 0 && table.scrollWidth > table.clientWidth + 1;
}

export function markTable(table) {
  const wide = scrolls(table);
  if (wide !== table.hasAttribute('data-scrolls')) table.toggleAttribute('data-scrolls', wide);
}

// Mark every table of the page now and whenever one is added or changes size (a tab shown, a turned phone).
export function watchTables() {
  const sized = new ResizeObserver(entries => { for (const e of entries) markTable(e.target); });
  const seen = new WeakSet();
  let queued = false;
  function update() {
    queued = false;
    for (const t of document.querySelectorAll('table')) {
      if (!seen.has(t)) { seen.add(t); sized.observe(t); }
      markTable(t);
    }
  }
  new MutationObserver(() => { if (!queued) { queued = true; requestAnimationFrame(update); } })
    .observe(document.body, {childList: true, subtree: true});
  update();
}
