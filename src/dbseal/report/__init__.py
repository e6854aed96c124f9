"""`dbseal report`: a self-contained compliance report built from a repository alone.

* :mod:`.collect` reads the repository once, keyless (manifests, key envelopes, data
  headers, verification records, and the objects' storage times);
* :mod:`.facts` turns that into one versioned facts dictionary (the ``--json`` output),
  with :mod:`.keyfacts` (encryption, key lifecycle), :mod:`.evidence` (restores,
  transit, integrity) and :mod:`.summary` (what is fine, what needs attention);
* :mod:`.charts` draws the charts as inline SVG (matplotlib, svg backend), and
  :mod:`.render` fills the Jinja2 templates in ``templates/``;
* :mod:`.pdf` prints the HTML to PDF with headless Chromium.

The heavy imports (Jinja2, matplotlib) live in charts/render only: the facts need
nothing beyond dbseal's own dependencies.
"""
