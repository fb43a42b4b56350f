"""Stock levels for the warehouse service."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Item:
    sku: str
    quantity: int
    price: float
    tags: list[str] = field(default_factory=list)


class Inventory:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: dict[str, Item] = {}

    def load(self) -> None:
        data = json.loads(self.path.read_text())
        for row in data["items"]:
            item = Item(row["sku"], int(row["quantity"]), float(row["price"]))
            if item.quantity < 0:
                raise ValueError(f"negative stock for {item.sku}")
            self.items[item.sku] = item

    def total_value(self) -> float:
        total = 0.0
        for item in self.items.values():
            total += item.quantity * item.price
        return total

    def restock(self, sku: str, amount: int) -> int:
        if amount <= 0:
            raise ValueError("amount must be positive")
        item = self.items[sku]
        item.quantity += amount
        return item.quantity

    def low_stock(self, threshold: int) -> list[str]:
        result = []
        for sku, item in self.items.items():
            if item.quantity < threshold:
                if "discontinued" not in item.tags:
                    result.append(sku)
        return sorted(result)


def average_price(items: list[Item]) -> float:
    total = 0.0
    for item in items:
        total += item.price
    return total / len(items)


def merge_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    merged = dict(a)
    for key, value in b.items():
        merged[key] = merged.get(key, 0) + value
    return merged
