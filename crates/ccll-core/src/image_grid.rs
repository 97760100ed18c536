//! A batch of images as one PNG grid (a generator's samples, for a person to look at).

use std::path::Path;
use tch::{Kind, Tensor};

/// Writes `images` (`[N, C, H, W]` `u8`, C = 1 or 3) as a grid of `columns` images per row
/// with a 2-pixel black border, to `path` (written to a temporary file and renamed).
pub fn write_png_grid(images: &Tensor, columns: i64, path: &Path) -> anyhow::Result<()> {
    let (n, c, h, w) = images.size4()?;
    anyhow::ensure!(c == 1 || c == 3, "a grid needs 1 or 3 channels, got {c}");
    anyhow::ensure!(n > 0 && columns > 0, "a grid of no images");
    let rows = (n + columns - 1) / columns;
    let pad = 2;
    let (gh, gw) = (rows * (h + pad) + pad, columns * (w + pad) + pad);
    let canvas = Tensor::zeros([c, gh, gw], (Kind::Uint8, tch::Device::Cpu));
    let images = images.to_device(tch::Device::Cpu).to_kind(Kind::Uint8);
    for i in 0..n {
        let (r, col) = (i / columns, i % columns);
        let (top, left) = (pad + r * (h + pad), pad + col * (w + pad));
        canvas
            .narrow(1, top, h)
            .narrow(2, left, w)
            .copy_(&images.get(i));
    }
    // Channels last, as the PNG encoder wants its pixels.
    let pixels = Vec::<u8>::try_from(canvas.permute([1, 2, 0]).contiguous().view(-1))?;
    let (gw, gh) = (u32::try_from(gw)?, u32::try_from(gh)?);
    let tmp = path.with_extension("png.tmp");
    let color = if c == 1 {
        image::ColorType::L8
    } else {
        image::ColorType::Rgb8
    };
    image::save_buffer_with_format(&tmp, &pixels, gw, gh, color, image::ImageFormat::Png)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| anyhow::anyhow!("renaming {} to {}: {e}", tmp.display(), path.display()))?;
    Ok(())
}
