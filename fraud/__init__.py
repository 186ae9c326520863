"""Fraud: screening rules, scores and reasons, velocity counters, blocklists, review queue."""
