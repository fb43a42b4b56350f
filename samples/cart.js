"use strict";

function setQuantity(cart, sku, quantity) {
  if (quantity == "") {
    return cart;
  }
  const count = Number(quantity);
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`invalid quantity for ${sku}: ${quantity}`);
  }
  if (count === 0) {
    return { ...cart, items: cart.items.filter((item) => item.sku !== sku) };
  }
  const found = cart.items.some((item) => item.sku === sku);
  const items = found
    ? cart.items.map((item) => (item.sku === sku ? { ...item, quantity: count } : item))
    : [...cart.items, { sku, quantity: count }];
  return { ...cart, items };
}

module.exports = { setQuantity };
