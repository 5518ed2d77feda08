// TIFF pages (scanner output, which browsers do not show): decoded by utif2, loaded
// on the first TIFF only. Each image file directory is a page, drawn on a canvas at
// its own pixel size when it first comes near the screen.

// The file's pages: [{width, height, draw(canvas)}]. @buffer: the whole file.
export async function openTiff(buffer) {
    const mod = await import('utif2');
    const UTIF = mod.default || mod;
    const ifds = UTIF.decode(buffer);
    const pages = [];
    for (const ifd of ifds) {
        const w = ifd.t256 && ifd.t256[0];
        const hgt = ifd.t257 && ifd.t257[0];
        if (!w || !hgt) {
            continue;
        }
        pages.push({
            width: w,
            height: hgt,
            draw(canvas) {
                UTIF.decodeImage(buffer, ifd, ifds);
                const rgba = UTIF.toRGBA8(ifd);
                canvas.width = ifd.width;
                canvas.height = ifd.height;
                const ctx = canvas.getContext('2d');
                ctx.putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset,
                                                                     ifd.width * ifd.height * 4),
                                               ifd.width, ifd.height), 0, 0);
                delete ifd.data; // the decoded strips: the canvas holds the pixels now
            },
        });
    }
    if (pages.length === 0) {
        throw new Error('no image in this TIFF file');
    }
    return pages;
}
