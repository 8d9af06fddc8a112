"""The report people look at: charts (matplotlib), numbers (pandas) and one self-contained HTML page."""
