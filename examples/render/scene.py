"""Renders one frame of a small animated scene with Blender's Cycles on the CPU.

A member of a gpunet job array: member GPUNET_ARRAY_INDEX of
GPUNET_ARRAY_SIZE renders frame INDEX + 1 of one turn of the camera around
the scene, into $GPUNET_OUTPUT_DIR/frame-NNNN.png. The scene is built here
rather than loaded from a .blend file, so it stays reviewable text.

    blender -b --factory-startup -noaudio --python-exit-code 1 -P scene.py
"""

import math
import os

import bpy

index = int(os.environ.get("GPUNET_ARRAY_INDEX", "0"))
frames = int(os.environ.get("GPUNET_ARRAY_SIZE", "1"))
out = os.environ.get("GPUNET_OUTPUT_DIR", ".")

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene


def material(name, color, metallic=0.0, roughness=0.4):
    m = bpy.data.materials.new(name)
    m.use_nodes = True
    bsdf = m.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*color, 1.0)
    bsdf.inputs["Metallic"].default_value = metallic
    bsdf.inputs["Roughness"].default_value = roughness
    return m


def add(op, mat, **kwargs):
    op(**kwargs)
    obj = bpy.context.object
    obj.data.materials.append(mat)
    return obj


add(bpy.ops.mesh.primitive_plane_add, material("floor", (0.8, 0.8, 0.75)), size=30)
torus = add(
    bpy.ops.mesh.primitive_torus_add,
    material("gold", (1.0, 0.75, 0.3), metallic=1.0, roughness=0.25),
    location=(0, 0, 1.0),
    rotation=(math.radians(60), 0, 0),
    major_radius=1.2,
    minor_radius=0.4,
)
add(bpy.ops.mesh.primitive_uv_sphere_add, material("red", (0.8, 0.1, 0.1)), location=(2.6, 0.5, 0.7), radius=0.7)
add(bpy.ops.mesh.primitive_cube_add, material("blue", (0.1, 0.2, 0.8)), location=(-2.4, -1.0, 0.6), size=1.2)

bpy.ops.object.light_add(type="SUN", location=(4, -4, 8))
bpy.context.object.data.energy = 4.0
world = bpy.data.worlds.new("sky")
world.color = (0.55, 0.65, 0.8)
scene.world = world

# The camera turns once around the torus over the array's frames.
angle = 2 * math.pi * index / max(frames, 1)
bpy.ops.object.camera_add(location=(8 * math.cos(angle), 8 * math.sin(angle), 4.0))
camera = bpy.context.object
track = camera.constraints.new(type="TRACK_TO")
track.target = torus
track.track_axis = "TRACK_NEGATIVE_Z"
track.up_axis = "UP_Y"
scene.camera = camera

scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 16
scene.cycles.seed = 0
# Debian builds Blender without OpenImageDenoise.
scene.cycles.use_denoising = False
scene.render.resolution_x = 320
scene.render.resolution_y = 240
scene.render.resolution_percentage = 100
scene.render.threads_mode = "FIXED"
scene.render.threads = 1
scene.render.image_settings.file_format = "PNG"
scene.render.filepath = os.path.join(out, f"frame-{index + 1:04d}.png")
bpy.ops.render.render(write_still=True)
print(f"rendered frame {index + 1} of {frames}")
