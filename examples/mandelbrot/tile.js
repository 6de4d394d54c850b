// One tile of the Mandelbrot set: rows y0 .. y0 + rows - 1 of a width × height picture of
// [-2.2, 0.8] × [-1.2, 1.2]. Each pixel is the number of iterations before z escapes (maxIter
// when it never does). Plain double arithmetic: every replica computes the same numbers.
(tile) => {
  const { y0, rows, width, height, maxIter } = tile;
  const out = [];
  for (let y = y0; y < y0 + rows; y++) {
    const row = new Array(width);
    const ci = -1.2 + (2.4 * y) / (height - 1);
    for (let x = 0; x < width; x++) {
      const cr = -2.2 + (3.0 * x) / (width - 1);
      let zr = 0;
      let zi = 0;
      let i = 0;
      while (i < maxIter && zr * zr + zi * zi <= 4) {
        const t = zr * zr - zi * zi + cr;
        zi = 2 * zr * zi + ci;
        zr = t;
        i++;
      }
      row[x] = i;
    }
    out.push(row);
    progress((y - y0 + 1) / rows);
  }
  return { y0, rows: out };
}
