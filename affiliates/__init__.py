"""Affiliates: accounts, offers as affiliates see them, tracking, conversions, postbacks, stats."""
