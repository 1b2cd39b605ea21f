"""Investor ROI and unit economics (METRICS.md section 9, the seed's section 11)."""
