"""The results store (runs and studies) and reports."""
