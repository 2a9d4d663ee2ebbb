"""The reports' figures: pre-aggregated rows kept current as conversations change (``facts``), rebuilt
from history on demand (``rebuild``), and read by the report pages (``figures``). docs/metrics.md
defines every figure; the code follows it."""
