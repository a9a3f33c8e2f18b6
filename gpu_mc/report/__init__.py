"""Presentation: terminal summary tables, figures and the HTML report."""
