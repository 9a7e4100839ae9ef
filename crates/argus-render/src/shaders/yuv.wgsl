// 8-bit YUV planes to RGBA, rendered into the frame texture. Semantics: src/yuv.rs.

struct YuvParams {
    m0: vec4<f32>,
    m1: vec4<f32>,
    m2: vec4<f32>,
    nv12: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<uniform> yp: YuvParams;
@group(0) @binding(1) var y_tex: texture_2d<u32>;
// I420: U and V planes. NV12: the interleaved UV plane, bound twice.
@group(0) @binding(2) var u_tex: texture_2d<u32>;
@group(0) @binding(3) var v_tex: texture_2d<u32>;

@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let p = vec2<i32>(floor(pos.xy));
    let c = p / 2;
    let y = f32(textureLoad(y_tex, p, 0).x);
    var u: f32;
    var v: f32;
    if yp.nv12 != 0u {
        u = f32(textureLoad(u_tex, vec2<i32>(c.x * 2, c.y), 0).x);
        v = f32(textureLoad(v_tex, vec2<i32>(c.x * 2 + 1, c.y), 0).x);
    } else {
        u = f32(textureLoad(u_tex, c, 0).x);
        v = f32(textureLoad(v_tex, c, 0).x);
    }
    let r = yp.m0.x * y + yp.m0.y * u + yp.m0.z * v + yp.m0.w;
    let g = yp.m1.x * y + yp.m1.y * u + yp.m1.z * v + yp.m1.w;
    let b = yp.m2.x * y + yp.m2.y * u + yp.m2.z * v + yp.m2.w;
    return vec4<f32>(clamp(vec3<f32>(r, g, b), vec3<f32>(0.0), vec3<f32>(1.0)), 1.0);
}
