"""Merging variants of one expert (issue: adapt and merge)."""
