//! The wgpu renderer: uploads frames and masks, draws the composite in one
//! fullscreen pass plus one instanced overlay pass, and reads it back or
//! presents it.
//!
//! GPU state is reused between calls: the frame texture is rewritten in place
//! while the frame size stays the same, the id map only has its dirty columns
//! rewritten (see [`crate::scene`]), and the output texture and readback
//! buffer are only reallocated when the output size changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::cpu::OutputSpec;
use crate::frame::{FrameInput, RgbaImage, check_size};
use crate::overlay::{Overlay, Primitive, tessellate};
use crate::scene::{MaskScene, ResolvedStyle};
use crate::view::ViewTransform;
use crate::yuv::{YuvFrame, YuvPlanes};
use crate::{Error, Result};

const COMPOSITE_WGSL: &str = include_str!("shaders/composite.wgsl");
const OVERLAY_WGSL: &str = include_str!("shaders/overlay.wgsl");
const YUV_WGSL: &str = include_str!("shaders/yuv.wgsl");

/// Every shader of the crate, by file name (for validation tests and tools).
pub const SHADERS: &[(&str, &str)] =
    &[("composite.wgsl", COMPOSITE_WGSL), ("overlay.wgsl", OVERLAY_WGSL), ("yuv.wgsl", YUV_WGSL)];

/// Format of the offscreen target and the frame texture.
const OFFSCREEN_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// What the renderer runs on, in words (for logs, the UI and benchmarks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    /// A software rasteriser (e.g. Mesa lavapipe): correct but slow.
    pub is_cpu: bool,
}

impl AdapterSummary {
    fn from_info(info: &wgpu::AdapterInfo) -> Self {
        Self {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            is_cpu: info.device_type == wgpu::DeviceType::Cpu,
        }
    }
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {})", self.name, self.backend, self.device_type)
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CompositeParams {
    frame_size: [u32; 2],
    tile_grid: [u32; 2],
    pan: [f32; 2],
    inv_zoom: f32,
    nearest: u32,
    background: [f32; 4],
    out_srgb: u32,
    has_masks: u32,
    _pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuStyle {
    fill: [f32; 4],
    outline: [f32; 4],
    width: u32,
    _pad: [u32; 3],
}

impl From<ResolvedStyle> for GpuStyle {
    fn from(s: ResolvedStyle) -> Self {
        Self { fill: s.fill, outline: s.outline, width: s.outline_width, _pad: [0; 3] }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct OverlayParams {
    out_size: [f32; 2],
    out_srgb: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct YuvParams {
    m: [[f32; 4]; 3],
    nv12: u32,
    _pad: [u32; 3],
}

/// Device health as reported by wgpu's callbacks.
#[derive(Debug, Default)]
struct Health {
    lost: Mutex<Option<String>>,
}

impl Health {
    fn lost_reason(&self) -> Option<String> {
        self.lost.lock().map(|g| g.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }
}

#[derive(Debug)]
struct FrameTex {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    width: u32,
    height: u32,
}

#[derive(Debug)]
struct YuvTex {
    y: wgpu::Texture,
    u: wgpu::Texture,
    v: Option<wgpu::Texture>,
    width: u32,
    height: u32,
}

#[derive(Debug)]
struct MaskTex {
    ids: wgpu::Texture,
    tiles: wgpu::Buffer,
    styles: wgpu::Buffer,
    style_capacity: usize,
    scene_uid: u64,
    width: u32,
    height: u32,
}

#[derive(Debug)]
struct Target {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    width: u32,
    height: u32,
}

#[derive(Debug)]
struct Pipelines {
    composite: wgpu::RenderPipeline,
    overlay: wgpu::RenderPipeline,
}

/// Draws frames with their masks and overlays (see the crate docs).
#[derive(Debug)]
pub struct Renderer {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: AdapterSummary,
    health: Arc<Health>,
    composite_layout: wgpu::BindGroupLayout,
    composite_pipeline_layout: wgpu::PipelineLayout,
    overlay_layout: wgpu::BindGroupLayout,
    overlay_pipeline_layout: wgpu::PipelineLayout,
    composite_module: wgpu::ShaderModule,
    overlay_module: wgpu::ShaderModule,
    pipelines: HashMap<wgpu::TextureFormat, Pipelines>,
    yuv_layout: wgpu::BindGroupLayout,
    yuv_pipeline: wgpu::RenderPipeline,
    params: wgpu::Buffer,
    overlay_params: wgpu::Buffer,
    yuv_params: wgpu::Buffer,
    frame: Option<FrameTex>,
    yuv: Option<YuvTex>,
    masks: Option<MaskTex>,
    target: Option<Target>,
    readback: Option<(wgpu::Buffer, u64)>,
    instances: Option<(wgpu::Buffer, u64)>,
    /// Polygon edges of filled overlays (never empty: bindings need a buffer).
    edges: (wgpu::Buffer, u64),
    stats: RenderStats,
}

/// Counters of what the renderer allocated and uploaded, so hosts (and
/// tests) can see that stepping frames and editing masks stay incremental.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderStats {
    /// Frame textures allocated (once per frame size).
    pub frame_textures_created: u64,
    /// Offscreen targets allocated (once per output size).
    pub targets_created: u64,
    /// Id-map textures allocated (once per scene size).
    pub mask_maps_created: u64,
    /// Bytes of id map uploaded, in total.
    pub id_bytes_uploaded: u64,
    /// Bytes of id map uploaded by the last render.
    pub id_bytes_last_render: u64,
}

fn uniform_entry(binding: u32, visibility: wgpu::ShaderStages) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn texture_entry(binding: u32, sample_type: wgpu::TextureSampleType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Texture { sample_type, view_dimension: wgpu::TextureViewDimension::D2, multisampled: false },
        count: None,
    }
}

fn storage_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only: true },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn fullscreen_pipeline(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::PipelineLayout,
    module: &wgpu::ShaderModule,
    format: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module,
            entry_point: Some("vs_main"),
            compilation_options: Default::default(),
            buffers: &[],
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module,
            entry_point: Some("fs_main"),
            compilation_options: Default::default(),
            targets: &[Some(wgpu::ColorTargetState { format, blend: None, write_mask: wgpu::ColorWrites::ALL })],
        }),
        multiview_mask: None,
        cache: None,
    })
}

/// The adapter [`Renderer::new_headless`] would pick, without creating a
/// device: a cheap "can we render on the GPU, and on what?" check.
pub fn probe() -> Result<AdapterSummary> {
    Ok(AdapterSummary::from_info(&headless_adapter()?.get_info()))
}

fn headless_adapter() -> Result<wgpu::Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    pollster::block_on(wgpu::util::initialize_adapter_from_env(&instance, None))
        .or_else(|_| {
            pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                ..Default::default()
            }))
        })
        .map_err(|e| Error::NoAdapter { tried: e.to_string() })
}

fn map_scope_error(what: &str, e: wgpu::Error) -> Error {
    match e {
        wgpu::Error::OutOfMemory { .. } => Error::OutOfMemory { what: what.to_owned() },
        other => Error::Gpu { what: what.to_owned(), message: other.to_string() },
    }
}

impl Renderer {
    /// Picks the best adapter (a GPU if there is one; `WGPU_BACKEND` and
    /// `WGPU_ADAPTER_NAME` are honoured) and creates a device on it.
    pub fn new_headless() -> Result<Self> {
        Self::from_adapter(&headless_adapter()?)
    }

    /// Creates a device on `adapter` (e.g. one the host picked for its window
    /// surface) and the renderer on it.
    pub fn from_adapter(adapter: &wgpu::Adapter) -> Result<Self> {
        let info = adapter.get_info();
        let limits = wgpu::Limits::downlevel_defaults().using_resolution(adapter.limits());
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("argus-render"),
            required_limits: limits,
            ..Default::default()
        }))
        .map_err(|e| Error::RequestDevice { adapter: info.name.clone(), reason: e.to_string() })?;
        Ok(Self::from_device(&info, device, queue))
    }

    /// Uses a device the host already has (e.g. shared with its window).
    pub fn from_device(info: &wgpu::AdapterInfo, device: wgpu::Device, queue: wgpu::Queue) -> Self {
        let health = Arc::new(Health::default());
        let h = Arc::clone(&health);
        device.set_device_lost_callback(move |reason, message| {
            tracing::error!(?reason, %message, "GPU device lost");
            if let Ok(mut lost) = h.lost.lock() {
                *lost = Some(format!("{reason:?}: {message}"));
            }
        });
        // Errors outside our error scopes must not panic the app (wgpu's default).
        device.on_uncaptured_error(Arc::new(|e: wgpu::Error| {
            tracing::error!(error = %e, "uncaptured wgpu error");
        }));

        let composite_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("composite.wgsl"),
            source: wgpu::ShaderSource::Wgsl(COMPOSITE_WGSL.into()),
        });
        let overlay_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("overlay.wgsl"),
            source: wgpu::ShaderSource::Wgsl(OVERLAY_WGSL.into()),
        });
        let yuv_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("yuv.wgsl"),
            source: wgpu::ShaderSource::Wgsl(YUV_WGSL.into()),
        });
        let float = wgpu::TextureSampleType::Float { filterable: false };
        let uint = wgpu::TextureSampleType::Uint;
        let composite_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("composite"),
            entries: &[
                uniform_entry(0, wgpu::ShaderStages::FRAGMENT),
                texture_entry(1, float),
                texture_entry(2, uint),
                storage_entry(3),
                storage_entry(4),
            ],
        });
        let overlay_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("overlay"),
            entries: &[uniform_entry(0, wgpu::ShaderStages::VERTEX_FRAGMENT), storage_entry(1)],
        });
        let yuv_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("yuv"),
            entries: &[
                uniform_entry(0, wgpu::ShaderStages::FRAGMENT),
                texture_entry(1, uint),
                texture_entry(2, uint),
                texture_entry(3, uint),
            ],
        });
        let pipeline_layout = |label, bgl: &wgpu::BindGroupLayout| {
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(label),
                bind_group_layouts: &[Some(bgl)],
                immediate_size: 0,
            })
        };
        let composite_pipeline_layout = pipeline_layout("composite", &composite_layout);
        let overlay_pipeline_layout = pipeline_layout("overlay", &overlay_layout);
        let yuv_pipeline_layout = pipeline_layout("yuv", &yuv_layout);
        let yuv_pipeline = fullscreen_pipeline(&device, "yuv", &yuv_pipeline_layout, &yuv_module, OFFSCREEN_FORMAT);
        let uniform = |label, size: usize| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let params = uniform("composite params", size_of::<CompositeParams>());
        let overlay_params = uniform("overlay params", size_of::<OverlayParams>());
        let yuv_params = uniform("yuv params", size_of::<YuvParams>());
        let edges = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("overlay edges"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let adapter = AdapterSummary::from_info(info);
        tracing::info!(%adapter, "renderer ready");
        Self {
            device,
            queue,
            adapter,
            health,
            composite_layout,
            composite_pipeline_layout,
            overlay_layout,
            overlay_pipeline_layout,
            composite_module,
            overlay_module,
            pipelines: HashMap::new(),
            yuv_layout,
            yuv_pipeline,
            params,
            overlay_params,
            yuv_params,
            frame: None,
            yuv: None,
            masks: None,
            target: None,
            readback: None,
            instances: None,
            edges: (edges, 16),
            stats: RenderStats::default(),
        }
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.adapter
    }

    /// The device, for hosts that configure a surface with it.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    pub fn stats(&self) -> RenderStats {
        self.stats
    }

    /// Size of the last uploaded frame.
    pub fn frame_size(&self) -> Option<(u32, u32)> {
        self.frame.as_ref().map(|f| (f.width, f.height))
    }

    fn check_alive(&self) -> Result<()> {
        match self.health.lost_reason() {
            Some(reason) => Err(Error::DeviceLost { reason }),
            None => Ok(()),
        }
    }

    /// Runs `f` inside out-of-memory and validation error scopes and turns
    /// what they catch (or a lost device) into typed errors.
    fn scoped<T>(&mut self, what: &str, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.check_alive()?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = f(self);
        let validation = pollster::block_on(validation.pop());
        let oom = pollster::block_on(oom.pop());
        self.check_alive()?;
        if let Some(e) = oom {
            return Err(map_scope_error(what, e));
        }
        if let Some(e) = validation {
            return Err(map_scope_error(what, e));
        }
        result
    }

    fn max_side(&self) -> u32 {
        self.device.limits().max_texture_dimension_2d.min(crate::frame::MAX_SIDE)
    }

    fn check_gpu_size(&self, what: &'static str, width: u32, height: u32) -> Result<()> {
        check_size(what, width, height)?;
        let max = self.max_side();
        if width > max || height > max {
            return Err(Error::InvalidSize { what, width, height, max });
        }
        Ok(())
    }

    /// Uploads the frame to draw. The frame texture is reused while the size
    /// stays the same (stepping through a video allocates nothing).
    pub fn upload_frame(&mut self, frame: &FrameInput<'_>) -> Result<()> {
        match frame {
            FrameInput::Rgba(f) => f.validate()?,
            FrameInput::Yuv(f) => f.validate()?,
        }
        self.check_gpu_size("frame", frame.width(), frame.height())?;
        self.scoped("uploading a frame", |r| {
            r.ensure_frame_texture(frame.width(), frame.height());
            match frame {
                FrameInput::Rgba(f) => {
                    if let Some(tex) = &r.frame {
                        r.queue.write_texture(
                            tex.texture.as_image_copy(),
                            f.data,
                            wgpu::TexelCopyBufferLayout {
                                offset: 0,
                                bytes_per_row: Some(f.stride as u32),
                                rows_per_image: Some(f.height),
                            },
                            extent(f.width, f.height),
                        );
                    }
                    Ok(())
                }
                FrameInput::Yuv(f) => r.convert_yuv(f),
            }
        })
    }

    fn ensure_frame_texture(&mut self, width: u32, height: u32) {
        if self.frame.as_ref().is_some_and(|f| f.width == width && f.height == height) {
            return;
        }
        let texture = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("frame"),
            size: extent(width, height),
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: OFFSCREEN_FORMAT,
            usage: wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_DST
                | wgpu::TextureUsages::RENDER_ATTACHMENT,
            view_formats: &[],
        });
        let view = texture.create_view(&Default::default());
        self.frame = Some(FrameTex { texture, view, width, height });
        self.stats.frame_textures_created += 1;
    }

    fn plane_texture(&self, label: &str, width: u32, height: u32) -> wgpu::Texture {
        self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size: extent(width, height),
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::R8Uint,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        })
    }

    fn convert_yuv(&mut self, f: &YuvFrame<'_>) -> Result<()> {
        let (cw, ch) = f.chroma_size();
        let nv12 = matches!(f.planes, YuvPlanes::Nv12 { .. });
        let fits = self.yuv.as_ref().is_some_and(|t| t.width == f.width && t.height == f.height && t.v.is_none() == nv12);
        if !fits {
            let y = self.plane_texture("Y plane", f.width, f.height);
            let (u, v) = if nv12 {
                (self.plane_texture("UV plane", cw * 2, ch), None)
            } else {
                (self.plane_texture("U plane", cw, ch), Some(self.plane_texture("V plane", cw, ch)))
            };
            self.yuv = Some(YuvTex { y, u, v, width: f.width, height: f.height });
        }
        let Some(tex) = &self.yuv else { return Ok(()) };
        let write = |texture: &wgpu::Texture, data: &[u8], stride: usize, width: u32, height: u32| {
            self.queue.write_texture(
                texture.as_image_copy(),
                data,
                wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(stride as u32), rows_per_image: Some(height) },
                extent(width, height),
            );
        };
        match f.planes {
            YuvPlanes::I420 { y, u, v } => {
                write(&tex.y, y.data, y.stride, f.width, f.height);
                write(&tex.u, u.data, u.stride, cw, ch);
                if let Some(vt) = &tex.v {
                    write(vt, v.data, v.stride, cw, ch);
                }
            }
            YuvPlanes::Nv12 { y, uv } => {
                write(&tex.y, y.data, y.stride, f.width, f.height);
                write(&tex.u, uv.data, uv.stride, cw * 2, ch);
            }
        }
        let params = YuvParams { m: f.matrix.coefficients(), nv12: u32::from(nv12), _pad: [0; 3] };
        self.queue.write_buffer(&self.yuv_params, 0, bytemuck::bytes_of(&params));
        let yv = tex.y.create_view(&Default::default());
        let uv = tex.u.create_view(&Default::default());
        let vv = tex.v.as_ref().unwrap_or(&tex.u).create_view(&Default::default());
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("yuv"),
            layout: &self.yuv_layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: self.yuv_params.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::TextureView(&yv) },
                wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(&uv) },
                wgpu::BindGroupEntry { binding: 3, resource: wgpu::BindingResource::TextureView(&vv) },
            ],
        });
        let Some(frame) = &self.frame else { return Ok(()) };
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = begin_cleared_pass(&mut encoder, "yuv to rgb", &frame.view);
            pass.set_pipeline(&self.yuv_pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.draw(0..3, 0..1);
        }
        self.queue.submit([encoder.finish()]);
        Ok(())
    }

    /// Uploads what changed in `scene` since this renderer last drew it: the
    /// dirty columns of the id map and tile map, and the style table.
    fn sync_scene(&mut self, scene: &mut MaskScene) -> Result<()> {
        let (w, h) = (scene.width(), scene.height());
        let same_size = self.masks.as_ref().is_some_and(|m| m.width == w && m.height == h);
        if !same_size {
            // Stored transposed: `height` texels per row, one row per column.
            self.check_gpu_size("mask scene", w, h)?;
            let (tw, th) = scene.tile_grid();
            let map = |label: &str, width: u32, height: u32| {
                self.device.create_texture(&wgpu::TextureDescriptor {
                    label: Some(label),
                    size: extent(width, height),
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: wgpu::TextureFormat::R32Uint,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                    view_formats: &[],
                })
            };
            let ids = map("id map", h, w);
            let tiles = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("tile map"),
                size: u64::from(tw * th) * 4,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let styles = self.style_buffer(64);
            self.stats.mask_maps_created += 1;
            self.masks = Some(MaskTex { ids, tiles, styles, style_capacity: 64, scene_uid: 0, width: w, height: h });
        }
        let Some(masks) = &mut self.masks else { return Ok(()) };
        if masks.scene_uid != scene.uid() {
            scene.mark_all_dirty();
            masks.scene_uid = scene.uid();
        }
        let dirty = scene.flush();
        self.stats.id_bytes_last_render = 0;
        if let Some(cols) = dirty.cols
            && cols.start < cols.end
        {
            let hh = h as usize;
            let ids = scene.ids().get(cols.start as usize * hh..cols.end as usize * hh).unwrap_or(&[]);
            let bytes = (ids.len() * 4) as u64;
            self.stats.id_bytes_uploaded += bytes;
            self.stats.id_bytes_last_render = bytes;
            self.queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture: &masks.ids,
                    mip_level: 0,
                    origin: wgpu::Origin3d { x: 0, y: cols.start, z: 0 },
                    aspect: wgpu::TextureAspect::All,
                },
                bytemuck::cast_slice(ids),
                wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(h * 4), rows_per_image: None },
                extent(h, cols.end - cols.start),
            );
            let (_, th) = scene.tile_grid();
            let (t0, t1) = (cols.start / crate::scene::TILE, cols.end.div_ceil(crate::scene::TILE));
            let tiles = scene.tiles().get((t0 * th) as usize..(t1 * th) as usize).unwrap_or(&[]);
            self.queue.write_buffer(&masks.tiles, u64::from(t0 * th) * 4, bytemuck::cast_slice(tiles));
        }
        if dirty.styles {
            let styles: Vec<GpuStyle> = scene.slot_styles().into_iter().map(GpuStyle::from).collect();
            if styles.len() > masks.style_capacity {
                let capacity = styles.len().next_power_of_two();
                masks.styles = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("styles"),
                    size: (capacity * size_of::<GpuStyle>()) as u64,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                masks.style_capacity = capacity;
            }
            if !styles.is_empty() {
                self.queue.write_buffer(&masks.styles, 0, bytemuck::cast_slice(&styles));
            }
        }
        Ok(())
    }

    fn style_buffer(&self, capacity: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("styles"),
            size: (capacity * size_of::<GpuStyle>()) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    fn pipelines(&mut self, format: wgpu::TextureFormat) -> &Pipelines {
        let device = &self.device;
        let (cl, cm, ol, om) =
            (&self.composite_pipeline_layout, &self.composite_module, &self.overlay_pipeline_layout, &self.overlay_module);
        self.pipelines.entry(format).or_insert_with(|| {
            let composite = fullscreen_pipeline(device, "composite", cl, cm, format);
            let blend = wgpu::BlendState {
                color: wgpu::BlendComponent {
                    src_factor: wgpu::BlendFactor::SrcAlpha,
                    dst_factor: wgpu::BlendFactor::OneMinusSrcAlpha,
                    operation: wgpu::BlendOperation::Add,
                },
                alpha: wgpu::BlendComponent {
                    src_factor: wgpu::BlendFactor::One,
                    dst_factor: wgpu::BlendFactor::OneMinusSrcAlpha,
                    operation: wgpu::BlendOperation::Add,
                },
            };
            let overlay = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("overlay"),
                layout: Some(ol),
                vertex: wgpu::VertexState {
                    module: om,
                    entry_point: Some("vs_overlay"),
                    compilation_options: Default::default(),
                    buffers: &[Some(wgpu::VertexBufferLayout {
                        array_stride: size_of::<Primitive>() as u64,
                        step_mode: wgpu::VertexStepMode::Instance,
                        attributes: &wgpu::vertex_attr_array![0 => Float32x4, 1 => Float32x4, 2 => Float32x4],
                    })],
                },
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module: om,
                    entry_point: Some("fs_overlay"),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format,
                        blend: Some(blend),
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            });
            Pipelines { composite, overlay }
        })
    }

    /// Records the composite and overlay passes into `target`.
    #[allow(clippy::too_many_arguments)] // one call site per output kind; a struct would only rename them
    fn encode(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        format: wgpu::TextureFormat,
        (width, height): (u32, u32),
        scene: &mut MaskScene,
        overlays: &[Overlay],
        view: &ViewTransform,
        background: [u8; 3],
    ) -> Result<()> {
        let Some((fw, fh)) = self.frame_size() else {
            return Err(Error::NoFrame);
        };
        if (fw, fh) != (scene.width(), scene.height()) {
            return Err(Error::SceneFrameMismatch {
                scene_width: scene.width(),
                scene_height: scene.height(),
                frame_width: fw,
                frame_height: fh,
            });
        }
        self.sync_scene(scene)?;
        let srgb = u32::from(format.is_srgb());
        let (pan_x, pan_y) = view.pan();
        let params = CompositeParams {
            frame_size: [fw, fh],
            tile_grid: [scene.tile_grid().0, scene.tile_grid().1],
            pan: [pan_x, pan_y],
            inv_zoom: view.inv_zoom(),
            nearest: u32::from(view.is_nearest()),
            background: [
                f32::from(background[0]) / 255.0,
                f32::from(background[1]) / 255.0,
                f32::from(background[2]) / 255.0,
                1.0,
            ],
            out_srgb: srgb,
            has_masks: u32::from(!scene.is_empty()),
            _pad: [0; 2],
        };
        self.queue.write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        let ov = OverlayParams { out_size: [width as f32, height as f32], out_srgb: srgb, _pad: 0 };
        self.queue.write_buffer(&self.overlay_params, 0, bytemuck::bytes_of(&ov));

        let tess = tessellate(overlays, view);
        if !tess.edges.is_empty() {
            let bytes = (tess.edges.len() * 16) as u64;
            if self.edges.1 < bytes {
                let cap = bytes.next_power_of_two();
                let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("overlay edges"),
                    size: cap,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                self.edges = (buffer, cap);
            }
            self.queue.write_buffer(&self.edges.0, 0, bytemuck::cast_slice(&tess.edges));
        }
        let prims = tess.primitives;
        if !prims.is_empty() {
            let bytes = (prims.len() * size_of::<Primitive>()) as u64;
            if self.instances.as_ref().is_none_or(|(_, cap)| *cap < bytes) {
                let cap = bytes.next_power_of_two();
                let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("overlay instances"),
                    size: cap,
                    usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                self.instances = Some((buffer, cap));
            }
            if let Some((buffer, _)) = &self.instances {
                self.queue.write_buffer(buffer, 0, bytemuck::cast_slice(&prims));
            }
        }
        self.pipelines(format);
        let (Some(frame), Some(masks), Some(pipes)) = (&self.frame, &self.masks, self.pipelines.get(&format)) else {
            return Err(Error::NoFrame);
        };
        let ids_view = masks.ids.create_view(&Default::default());
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("composite"),
            layout: &self.composite_layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: self.params.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::TextureView(&frame.view) },
                wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(&ids_view) },
                wgpu::BindGroupEntry { binding: 3, resource: masks.tiles.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 4, resource: masks.styles.as_entire_binding() },
            ],
        });
        let overlay_bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("overlay"),
            layout: &self.overlay_layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: self.overlay_params.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: self.edges.0.as_entire_binding() },
            ],
        });
        let mut pass = begin_cleared_pass(encoder, "composite", target);
        pass.set_pipeline(&pipes.composite);
        pass.set_bind_group(0, &bind, &[]);
        pass.draw(0..3, 0..1);
        if let Some((buffer, _)) = &self.instances
            && !prims.is_empty()
        {
            pass.set_pipeline(&pipes.overlay);
            pass.set_bind_group(0, &overlay_bind, &[]);
            pass.set_vertex_buffer(0, buffer.slice(..));
            pass.draw(0..6, 0..prims.len() as u32);
        }
        Ok(())
    }

    /// Draws into an offscreen texture and reads it back (for previews,
    /// exports and tests). The texture and the readback buffer are kept while
    /// the output size stays the same.
    pub fn render(
        &mut self,
        scene: &mut MaskScene,
        overlays: &[Overlay],
        view: &ViewTransform,
        out: &OutputSpec,
    ) -> Result<RgbaImage> {
        self.check_gpu_size("output", out.width, out.height)?;
        self.scoped("rendering offscreen", |r| r.render_offscreen(scene, overlays, view, out))
    }

    fn render_offscreen(
        &mut self,
        scene: &mut MaskScene,
        overlays: &[Overlay],
        view: &ViewTransform,
        out: &OutputSpec,
    ) -> Result<RgbaImage> {
        let (w, h) = (out.width, out.height);
        if !self.target.as_ref().is_some_and(|t| t.width == w && t.height == h) {
            let texture = self.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("offscreen target"),
                size: extent(w, h),
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: OFFSCREEN_FORMAT,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
                view_formats: &[],
            });
            let view = texture.create_view(&Default::default());
            self.target = Some(Target { texture, view, width: w, height: h });
            self.stats.targets_created += 1;
        }
        let padded = u64::from((w * 4).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let size = padded * u64::from(h);
        if self.readback.as_ref().is_none_or(|(_, s)| *s != size) {
            let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.readback = Some((buffer, size));
        }
        let Some(target) = self.target.take() else { return Err(Error::NoFrame) };
        let mut encoder = self.device.create_command_encoder(&Default::default());
        let drawn = self.encode(&mut encoder, &target.view, OFFSCREEN_FORMAT, (w, h), scene, overlays, view, out.background);
        self.target = Some(target);
        drawn?;
        let (Some(target), Some((buffer, _))) = (&self.target, &self.readback) else { return Err(Error::NoFrame) };
        encoder.copy_texture_to_buffer(
            target.texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer,
                layout: wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(padded as u32), rows_per_image: Some(h) },
            },
            extent(w, h),
        );
        self.queue.submit([encoder.finish()]);
        let slice = buffer.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        let gpu_err = |message: String| Error::Gpu { what: "reading the frame back".into(), message };
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| gpu_err(e.to_string()))?;
        rx.recv().map_err(|e| gpu_err(e.to_string()))?.map_err(|e| gpu_err(e.to_string()))?;
        // Mapped from here on: unmap whatever happens, or the next copy into
        // this buffer would fail.
        let pixels = slice.get_mapped_range().map_err(|e| gpu_err(e.to_string())).map(|mapped| {
            let mut pixels = Vec::with_capacity(w as usize * h as usize * 4);
            for row in mapped.chunks(padded as usize).take(h as usize) {
                pixels.extend_from_slice(row.get(..w as usize * 4).unwrap_or(&[]));
            }
            pixels
        });
        buffer.unmap();
        RgbaImage::from_vec(w, h, pixels?)
    }

    /// Draws into a texture view the host owns (`format` must be renderable;
    /// sRGB formats are handled). Submits but does not wait.
    #[allow(clippy::too_many_arguments)] // mirrors `render` plus the host's target
    pub fn render_to_view(
        &mut self,
        target: &wgpu::TextureView,
        format: wgpu::TextureFormat,
        size: (u32, u32),
        scene: &mut MaskScene,
        overlays: &[Overlay],
        view: &ViewTransform,
        background: [u8; 3],
    ) -> Result<()> {
        self.check_gpu_size("output", size.0, size.1)?;
        self.scoped("rendering to a host texture", |r| {
            let mut encoder = r.device.create_command_encoder(&Default::default());
            r.encode(&mut encoder, target, format, size, scene, overlays, view, background)?;
            r.queue.submit([encoder.finish()]);
            Ok(())
        })
    }

    /// Draws into the next texture of a configured window surface and
    /// presents it. An occluded or timed-out surface skips the frame (`Ok`).
    pub fn render_to_surface(
        &mut self,
        surface: &wgpu::Surface<'_>,
        scene: &mut MaskScene,
        overlays: &[Overlay],
        view: &ViewTransform,
        background: [u8; 3],
    ) -> Result<()> {
        let texture = match surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t) | wgpu::CurrentSurfaceTexture::Suboptimal(t) => t,
            wgpu::CurrentSurfaceTexture::Timeout | wgpu::CurrentSurfaceTexture::Occluded => return Ok(()),
            wgpu::CurrentSurfaceTexture::Outdated => return Err(Error::Surface { reason: "outdated".into() }),
            wgpu::CurrentSurfaceTexture::Lost => return Err(Error::Surface { reason: "lost".into() }),
            wgpu::CurrentSurfaceTexture::Validation => return Err(Error::Surface { reason: "validation error".into() }),
        };
        let format = texture.texture.format();
        let size = (texture.texture.width(), texture.texture.height());
        let target = texture.texture.create_view(&Default::default());
        self.render_to_view(&target, format, size, scene, overlays, view, background)?;
        self.queue.present(texture);
        Ok(())
    }
}

fn extent(width: u32, height: u32) -> wgpu::Extent3d {
    wgpu::Extent3d { width, height, depth_or_array_layers: 1 }
}

/// A render pass over one colour target, cleared to black first: every pass
/// this renderer records draws a fullscreen triangle over its whole target.
fn begin_cleared_pass<'e>(
    encoder: &'e mut wgpu::CommandEncoder,
    label: &str,
    view: &wgpu::TextureView,
) -> wgpu::RenderPass<'e> {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some(label),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations { load: wgpu::LoadOp::Clear(wgpu::Color::BLACK), store: wgpu::StoreOp::Store },
        })],
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn renderer_can_move_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::Renderer>();
        send_sync::<crate::MaskScene>();
    }
}
