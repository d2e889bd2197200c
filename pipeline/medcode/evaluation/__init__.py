"""Evaluation: metrics (one implementation each), audits of predictions, HTML reports, the baseline."""
