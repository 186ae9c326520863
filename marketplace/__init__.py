"""Marketplace: verticals, advertisers, leads (intake, normalization, dedupe), orders, sales, store."""
