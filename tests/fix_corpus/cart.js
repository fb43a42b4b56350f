'use strict';

const TAX_RATE = 0.2;

function subtotal(lines) {
  let total = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    total += line.price * line.quantity;
  }
  return total;
}

function applyCoupon(cart, coupon) {
  if (coupon) {
    if (coupon.expires > Date.now()) {
      cart.discount = coupon.amount;
    }
  }
  return cart;
}

function totals(cart) {
  const net = subtotal(cart.lines) - (cart.discount || 0);
  const tax = net * TAX_RATE;
  return { net, tax, gross: net + tax };
}

module.exports = { subtotal, applyCoupon, totals };
