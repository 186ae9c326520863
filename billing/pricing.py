"""Lead store list prices: vertical base price × geography × temperature × age decay, rounded once.

A vertical's `store_pricing` JSON overrides any of DEFAULTS (multipliers as decimal strings):

    {"geo": {"US": "1.0", "US-CA": "1.25"},            # "CC-REGION" beats "CC"; others 1
     "temperature": {"cold": "0.6", "warm": "1.0", "hot": "1.5"},   # unknown temperature 1
     "age_decay_per_day": "0.05", "age_floor": "0.3",   # × max(floor, (1 - decay) ** whole days)
     "exclusive_multiplier": "2"}                       # an exclusive purchase costs this many times

The product is taken exactly in Decimal on the base price in minor units and rounded once to a
whole minor unit with ROUND_HALF_EVEN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

DEFAULTS: dict[str, Any] = {
    "geo": {},
    "temperature": {"cold": "0.6", "warm": "1.0", "hot": "1.5"},
    "age_decay_per_day": "0.05",
    "age_floor": "0.3",
    "exclusive_multiplier": "2",
}

ONE = Decimal(1)


@dataclass(frozen=True)
class StorePricing:
    geo: Mapping[str, Decimal]
    temperature: Mapping[str, Decimal]
    age_decay_per_day: Decimal
    age_floor: Decimal
    exclusive_multiplier: Decimal

    @classmethod
    def of(cls, store_pricing: Mapping[str, Any] | None) -> StorePricing:
        """The vertical's `store_pricing` over DEFAULTS (a section given replaces the default's)."""
        merged = {**DEFAULTS, **(store_pricing or {})}
        return cls(geo={k.upper(): Decimal(str(v)) for k, v in merged["geo"].items()},
                   temperature={k: Decimal(str(v)) for k, v in merged["temperature"].items()},
                   age_decay_per_day=Decimal(str(merged["age_decay_per_day"])),
                   age_floor=Decimal(str(merged["age_floor"])),
                   exclusive_multiplier=Decimal(str(merged["exclusive_multiplier"])))

    def geo_multiplier(self, country: str, region: str | None) -> Decimal:
        if region and (factor := self.geo.get(f"{country}-{region}".upper())) is not None:
            return factor
        return self.geo.get(country.upper(), ONE)

    def temperature_multiplier(self, temperature: str | None) -> Decimal:
        return self.temperature.get(temperature, ONE) if temperature else ONE

    def age_multiplier(self, age: timedelta) -> Decimal:
        """Older leads are cheaper: (1 - decay) per whole day of age, never below the floor."""
        days = max(0, int(age.total_seconds() // 86400))
        with localcontext(Context(prec=40)):
            return max(self.age_floor, (ONE - self.age_decay_per_day) ** days)


    def price_minor(self, base_price_minor: int, *, country: str, region: str | None, temperature: str | None,
                    age: timedelta, exclusive: bool = False) -> int:
        with localcontext(Context(prec=40)):
            price = (Decimal(base_price_minor) * self.geo_multiplier(country, region)
                     * self.temperature_multiplier(temperature) * self.age_multiplier(age))
            if exclusive:
                price *= self.exclusive_multiplier
            return int(price.quantize(ONE, rounding=ROUND_HALF_EVEN))


def store_price_minor(*, base_price_minor: int, store_pricing: Mapping[str, Any] | None, country: str,
                      region: str | None, temperature: str | None, created_at: datetime, now: datetime,
                      exclusive: bool = False) -> int:
    """A stored lead's list price in minor units of the vertical's currency, at `now`."""
    return StorePricing.of(store_pricing).price_minor(base_price_minor, country=country, region=region,
                                                      temperature=temperature, age=now - created_at,
                                                      exclusive=exclusive)
