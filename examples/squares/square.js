// Squares a number, and says so on the console (relayed to the client as `[task i] …`).
// An input that is not a number makes it throw: every replica throws alike, so the error is
// the task's agreed outcome, reported by input index.
(input) => {
  if (typeof input.n !== 'number') throw new TypeError('n must be a number, got ' + typeof input.n);
  console.log('squaring', input.n);
  return { n: input.n, square: input.n * input.n };
}
