#!/usr/bin/env python3
"""Generate a tiny LeRobot-format (v2.1) robot dataset rendered by PyBullet.

Output: ``assets/robot/`` (relative to the repository root), laid out exactly like
LeRobot ``codebase_version`` "v2.1" writes a dataset:

    assets/robot/
      meta/info.json
      meta/episodes.jsonl
      meta/tasks.jsonl
      meta/episodes_stats.jsonl
      data/chunk-000/episode_{000000..000002}.parquet
      videos/chunk-000/observation.images.top/episode_{000000..000002}.mp4
      videos/chunk-000/observation.images.wrist/episode_{000000..000002}.mp4
      LICENSE.md

Content: a Franka Emika Panda arm (URDF shipped in ``pybullet_data``) on a table
performs a kinematic pick-and-place of one of three coloured cubes. 3 episodes
(41, 33, 37 frames) at 10 fps, 2 cameras:

  * ``observation.images.top``   fixed scene camera, 256x192 (w x h, 4:3 landscape)
  * ``observation.images.wrist`` camera on the Panda hand, 192x256 (w x h, 3:4 portrait)

Frames are rendered with PyBullet's software TinyRenderer (``p.ER_TINY_RENDERER``,
headless, no GPU / display needed) with directional light + shadows, then encoded
like LeRobot's ``encode_video_frames`` defaults: AV1 via ``libsvtav1``,
``pix_fmt=yuv420p``, ``g=2``, ``crf=30``, mp4 container, no audio.

Usage (from the repository root):

    python3 scripts/make_robot_sample.py            # writes assets/robot/
    python3 scripts/make_robot_sample.py --out DIR  # writes elsewhere
    python3 scripts/make_robot_sample.py --contact-sheets /tmp  # + PNG contact sheets

Requirements:

    pip install pybullet pyarrow numpy     # pybullet 3.2.7, pyarrow, numpy were used
    apt-get install -y ffmpeg              # ffmpeg/ffprobe CLI with libsvtav1 (Debian 12: FFmpeg 5.1)

Determinism: all randomness comes from ``numpy.random.default_rng(SEED + episode)``,
the arm is driven kinematically (resetJointState + IK, no physics stepping), so the
rendered frames are bit-identical between runs. The AV1 bitstream is deterministic
for a given SVT-AV1 build and thread setting (we pin ``-threads 1``/``lp=1``).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pybullet as p
import pybullet_data

SEED = 20240531
FPS = 10
EPISODE_LENGTHS = [41, 33, 37]
CHUNKS_SIZE = 1000
ROBOT_TYPE = "franka_panda"
CAMERAS = {
    # key: (width, height)
    "observation.images.top": (256, 192),
    "observation.images.wrist": (192, 256),
}
# Same defaults as lerobot.datasets.video_utils.encode_video_frames (v0.3.x).
VCODEC, PIX_FMT, GOP, CRF = "libsvtav1", "yuv420p", 2, 30

TABLE_Z = 0.625  # top surface of pybullet_data/table/table.urdf
ARM_JOINTS = list(range(7))
FINGER_JOINTS = [9, 10]
EE_LINK = 11  # panda_grasptarget
HAND_LINK = 8  # panda_hand
HOME = [0.0, -0.35, 0.0, -2.2, 0.0, 1.9, 0.785]
JOINT_NAMES = [f"panda_joint{i}" for i in range(1, 8)]
CUBE_COLOURS = {
    "red": [0.85, 0.12, 0.10, 1.0],
    "green": [0.12, 0.70, 0.20, 1.0],
    "blue": [0.10, 0.30, 0.90, 1.0],
}
CUBE_HALF = 0.025  # cube_small.urdf is a 5 cm cube


# --------------------------------------------------------------------------- scene
def build_scene():
    p.connect(p.DIRECT)
    p.setAdditionalSearchPath(pybullet_data.getDataPath())
    p.resetSimulation()
    p.loadURDF("plane.urdf", [0, 0, 0])  # checker texture
    p.loadURDF("table/table.urdf", [0.5, 0, 0])  # wooden texture
    robot = p.loadURDF("franka_panda/panda.urdf", [0, 0, TABLE_Z], useFixedBase=True)
    # give the white arm some shading variety
    for link, rgba in [(-1, [0.9, 0.9, 0.9, 1]), (1, [0.92, 0.92, 0.92, 1]), (3, [0.92, 0.92, 0.92, 1]),
                       (5, [0.25, 0.25, 0.28, 1]), (7, [0.25, 0.25, 0.28, 1]), (8, [0.85, 0.85, 0.85, 1])]:
        p.changeVisualShape(robot, link, rgbaColor=rgba)
    cubes = {}
    for name, rgba in CUBE_COLOURS.items():
        cid = p.loadURDF("cube_small.urdf", [0.5, 0, TABLE_Z + CUBE_HALF])
        p.changeVisualShape(cid, -1, rgbaColor=rgba, textureUniqueId=-1)
        cubes[name] = cid
    # a static "tray" target (flat yellow box) to place objects on
    vis = p.createVisualShape(p.GEOM_BOX, halfExtents=[0.07, 0.07, 0.006], rgbaColor=[0.95, 0.80, 0.15, 1])
    tray = p.createMultiBody(baseMass=0, baseVisualShapeIndex=vis, basePosition=[0.5, 0.3, TABLE_Z + 0.006])
    # a mug as a distractor
    mug = p.loadURDF("objects/mug.urdf", [0.7, -0.3, TABLE_Z + 0.01], p.getQuaternionFromEuler([1.5708, 0, 0.5]))
    return robot, cubes, tray, mug


def set_arm(robot, q, finger):
    for j, v in zip(ARM_JOINTS, q):
        p.resetJointState(robot, j, float(v))
    for j in FINGER_JOINTS:
        p.resetJointState(robot, j, float(finger))


def ik(robot, pos, q_rest):
    down = p.getQuaternionFromEuler([math.pi, 0.0, 0.0])
    ll = [-2.9, -1.8, -2.9, -3.0, -2.9, -0.08, -2.9]
    ul = [2.9, 1.8, 2.9, -0.1, 2.9, 3.8, 2.9]
    jr = [u - l for u, l in zip(ul, ll)]
    q = None
    for _ in range(4):  # a few refinement passes from the current state
        q = p.calculateInverseKinematics(robot, EE_LINK, pos, down, lowerLimits=ll + [0, 0],
                                         upperLimits=ul + [0.04, 0.04], jointRanges=jr + [0.04, 0.04],
                                         restPoses=list(q_rest) + [0.04, 0.04], maxNumIterations=200,
                                         residualThreshold=1e-5)
        for j, v in zip(ARM_JOINTS, q[:7]):
            p.resetJointState(robot, j, v)
    return np.array(q[:7], dtype=np.float64)


def smoothstep(t):
    return t * t * (3 - 2 * t)


# --------------------------------------------------------------------------- cameras
LIGHT = dict(lightDirection=[0.6, -0.9, 1.6], lightColor=[1.0, 0.97, 0.9], lightDistance=3.0,
             shadow=1, lightAmbientCoeff=0.45, lightDiffuseCoeff=0.6, lightSpecularCoeff=0.15)


def render(view, w, h, fov, near=0.02, far=5.0):
    proj = p.computeProjectionMatrixFOV(fov=fov, aspect=w / h, nearVal=near, farVal=far)
    _, _, rgba, _, _ = p.getCameraImage(w, h, viewMatrix=view, projectionMatrix=proj,
                                        renderer=p.ER_TINY_RENDERER, **LIGHT)
    return np.asarray(rgba, dtype=np.uint8).reshape(h, w, 4)[:, :, :3].copy()


def top_view():
    return p.computeViewMatrix(cameraEyePosition=[1.5, -0.55, 1.6], cameraTargetPosition=[0.36, 0.0, 0.84],
                               cameraUpVector=[0, 0, 1])


def wrist_view(robot):
    pos, orn = p.getLinkState(robot, HAND_LINK, computeForwardKinematics=True)[4:6]
    rot = np.array(p.getMatrixFromQuaternion(orn)).reshape(3, 3)
    z, x = rot[:, 2], rot[:, 0]  # hand z = approach direction, x = across fingers
    eye = np.array(pos) + 0.06 * x - 0.05 * rot[:, 1] + 0.02 * z
    target = eye + 0.3 * z
    return p.computeViewMatrix(eye.tolist(), target.tolist(), (-x).tolist())


# --------------------------------------------------------------------------- episode
def make_episode(robot, cubes, tray, ep, n_frames):
    rng = np.random.default_rng(SEED + ep)
    names = list(CUBE_COLOURS)
    # random, non-overlapping cube placements in front of the robot
    placed = []
    for name in names:
        while True:
            xy = np.array([rng.uniform(0.38, 0.66), rng.uniform(-0.22, 0.18)])
            if all(np.linalg.norm(xy - o) > 0.11 for o in placed):
                break
        placed.append(xy)
        yaw = rng.uniform(-0.7, 0.7)
        p.resetBasePositionAndOrientation(cubes[name], [xy[0], xy[1], TABLE_Z + CUBE_HALF],
                                          p.getQuaternionFromEuler([0, 0, yaw]))
    tray_xy = np.array([rng.uniform(0.40, 0.60), rng.uniform(0.28, 0.34)])
    p.resetBasePositionAndOrientation(tray, [tray_xy[0], tray_xy[1], TABLE_Z + 0.006], [0, 0, 0, 1])
    target = names[ep % len(names)]
    tx, ty = placed[names.index(target)]
    task = f"Pick up the {target} cube and place it on the yellow tray."

    # cartesian waypoints for the grasp target (fingertip centre)
    hover = 0.16
    grasp_z = TABLE_Z + CUBE_HALF
    home_q = np.array(HOME)
    set_arm(robot, home_q, 0.04)
    home_pos = np.array(p.getLinkState(robot, EE_LINK, computeForwardKinematics=True)[4])
    wp = [
        # (position, finger opening, grasped?)
        (home_pos, 0.04, False),
        (np.array([tx, ty, grasp_z + hover]), 0.04, False),
        (np.array([tx, ty, grasp_z + 0.003]), 0.04, False),
        (np.array([tx, ty, grasp_z + 0.003]), 0.018, True),  # close gripper
        (np.array([tx, ty, grasp_z + hover + 0.05]), 0.018, True),
        (np.array([tray_xy[0], tray_xy[1], grasp_z + hover]), 0.018, True),
        (np.array([tray_xy[0], tray_xy[1], grasp_z + 0.015]), 0.018, True),
        (np.array([tray_xy[0], tray_xy[1], grasp_z + 0.015]), 0.04, False),  # release
        (np.array([tray_xy[0] - 0.05, tray_xy[1] - 0.08, grasp_z + hover + 0.06]), 0.04, False),
    ]
    # duration weights of the 8 segments, jittered per episode
    weights = np.array([1.6, 1.0, 0.5, 1.0, 1.6, 0.9, 0.5, 1.0]) * rng.uniform(0.85, 1.15, 8)
    cum = np.concatenate([[0], np.cumsum(weights)]) / weights.sum()

    frames = {k: [] for k in CAMERAS}
    states, grasp_offset = [], None
    q_prev = home_q.copy()
    cube_id = cubes[target]
    for f in range(n_frames):
        s = f / (n_frames - 1)
        seg = min(int(np.searchsorted(cum, s, side="right") - 1), len(weights) - 1)
        t = smoothstep((s - cum[seg]) / (cum[seg + 1] - cum[seg]))
        (p0, g0, _), (p1, g1, _) = wp[seg], wp[seg + 1]
        pos = (1 - t) * p0 + t * p1
        # small smooth sway so the hover phases are not perfectly static
        pos = pos + 0.004 * np.array([math.sin(2.1 * s * math.pi + ep), math.cos(1.7 * s * math.pi), 0.0])
        finger = (1 - t) * g0 + t * g1
        q = ik(robot, pos, q_prev) if f > 0 else home_q
        set_arm(robot, q, finger)
        q_prev = q
        ee_pos, ee_orn = p.getLinkState(robot, EE_LINK, computeForwardKinematics=True)[4:6]
        if seg in (3, 4, 5):  # carried: lift, transfer, lower onto the tray
            if grasp_offset is None:
                cpos, corn = p.getBasePositionAndOrientation(cube_id)
                inv = p.invertTransform(ee_pos, ee_orn)
                grasp_offset = p.multiplyTransforms(inv[0], inv[1], cpos, corn)
            cpos, corn = p.multiplyTransforms(ee_pos, ee_orn, *grasp_offset)
            p.resetBasePositionAndOrientation(cube_id, cpos, corn)
        elif seg >= 6 and grasp_offset is not None:  # released: rest on the tray
            cpos, corn = p.getBasePositionAndOrientation(cube_id)
            p.resetBasePositionAndOrientation(cube_id, [cpos[0], cpos[1], TABLE_Z + 0.012 + CUBE_HALF], corn)
            grasp_offset = None
        states.append(q.astype(np.float32))
        frames["observation.images.top"].append(render(top_view(), *CAMERAS["observation.images.top"], fov=52))
        frames["observation.images.wrist"].append(
            render(wrist_view(robot), *CAMERAS["observation.images.wrist"], fov=75))
    states = np.stack(states)
    # action = commanded joint target = next state (last frame repeats itself)
    actions = np.concatenate([states[1:], states[-1:]], axis=0)
    return task, states, actions, {k: np.stack(v) for k, v in frames.items()}


# --------------------------------------------------------------------------- writers
def encode_av1(frames: np.ndarray, path: Path):
    n, h, w, _ = frames.shape
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", str(FPS), "-i", "-",
           "-c:v", VCODEC, "-pix_fmt", PIX_FMT, "-g", str(GOP), "-crf", str(CRF),
           "-threads", "1", "-svtav1-params", "lp=1", "-an", "-f", "mp4", str(path)]
    res = subprocess.run(cmd, input=frames.tobytes(), capture_output=True)  # SVT logs to stderr
    if res.returncode != 0:
        raise RuntimeError(f"ffmpeg failed for {path}:\n{res.stderr.decode(errors='replace')}")


def ffprobe_video(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    streams = json.loads(out)["streams"]
    v = [s for s in streams if s["codec_type"] == "video"][0]
    num, den = (int(x) for x in v["r_frame_rate"].split("/"))
    return {
        "width": v["width"], "height": v["height"], "codec": v["codec_name"], "pix_fmt": v["pix_fmt"],
        "fps": num / den, "nb_read_frames": int(v["nb_read_frames"]),
        "has_audio": any(s["codec_type"] == "audio" for s in streams),
    }


def feature_stats(arr: np.ndarray, axis, keepdims) -> dict:
    return {"min": np.min(arr, axis=axis, keepdims=keepdims), "max": np.max(arr, axis=axis, keepdims=keepdims),
            "mean": np.mean(arr, axis=axis, keepdims=keepdims), "std": np.std(arr, axis=axis, keepdims=keepdims),
            "count": np.array([len(arr)])}


def episode_stats(columns: dict, frames: dict) -> dict:
    """Mirrors lerobot.datasets.compute_stats.compute_episode_stats (v0.3.x / v2.1)."""
    st = {}
    for key, arr in columns.items():
        st[key] = feature_stats(arr, 0, arr.ndim == 1)
    for key, v in frames.items():  # (N, H, W, 3) uint8 -> (3,1,1) in [0, 1]; <100 frames => all sampled
        chw = v.transpose(0, 3, 1, 2).astype(np.float64)
        s = feature_stats(chw, (0, 2, 3), True)
        st[key] = {k: (x if k == "count" else np.squeeze(x / 255.0, axis=0)) for k, x in s.items()}
    return {k: {kk: vv.tolist() for kk, vv in d.items()} for k, d in st.items()}


def hf_features_meta() -> dict:
    seq = lambda n: {"feature": {"dtype": "float32", "_type": "Value"}, "length": n, "_type": "Sequence"}
    val = lambda d: {"dtype": d, "_type": "Value"}
    return {"info": {"features": {
        "action": seq(7), "observation.state": seq(7), "timestamp": val("float32"),
        "frame_index": val("int64"), "episode_index": val("int64"), "index": val("int64"),
        "task_index": val("int64")}}}


def write_parquet(path: Path, cols: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    vec = lambda a: pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1), pa.float32()), a.shape[1])
    table = pa.table({
        "action": vec(cols["action"]),
        "observation.state": vec(cols["observation.state"]),
        "timestamp": pa.array(cols["timestamp"], pa.float32()),
        "frame_index": pa.array(cols["frame_index"], pa.int64()),
        "episode_index": pa.array(cols["episode_index"], pa.int64()),
        "index": pa.array(cols["index"], pa.int64()),
        "task_index": pa.array(cols["task_index"], pa.int64()),
    })
    table = table.replace_schema_metadata({"huggingface": json.dumps(hf_features_meta())})
    pq.write_table(table, path)


def contact_sheet(video: Path, png: Path, n_frames: int, cols: int = 8):
    step = max(1, n_frames // cols)
    vf = f"select='not(mod(n\\,{step}))',tile={cols}x1:padding=2"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(video), "-vf", vf,
                    "-frames:v", "1", "-update", "1", str(png)], check=True)


# --------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "assets" / "robot")
    ap.add_argument("--contact-sheets", type=Path, default=None, help="directory for PNG contact sheets")
    args = ap.parse_args()
    root: Path = args.out
    for sub in ("meta", "data", "videos"):
        shutil.rmtree(root / sub, ignore_errors=True)
    (root / "meta").mkdir(parents=True, exist_ok=True)

    robot, cubes, tray, _ = build_scene()
    tasks: list[str] = []
    episodes, ep_stats_lines, probes = [], [], {}
    global_index = 0
    for ep, n in enumerate(EPISODE_LENGTHS):
        task, states, actions, frames = make_episode(robot, cubes, tray, ep, n)
        if task not in tasks:
            tasks.append(task)
        t_idx = tasks.index(task)
        chunk = ep // CHUNKS_SIZE
        cols = {
            "action": actions,
            "observation.state": states,
            "timestamp": (np.arange(n) / FPS).astype(np.float32),
            "frame_index": np.arange(n, dtype=np.int64),
            "episode_index": np.full(n, ep, dtype=np.int64),
            "index": np.arange(global_index, global_index + n, dtype=np.int64),
            "task_index": np.full(n, t_idx, dtype=np.int64),
        }
        write_parquet(root / f"data/chunk-{chunk:03d}/episode_{ep:06d}.parquet", cols)
        for key, v in frames.items():
            path = root / f"videos/chunk-{chunk:03d}/{key}/episode_{ep:06d}.mp4"
            encode_av1(v, path)
            probes[(ep, key)] = pr = ffprobe_video(path)
            assert pr["nb_read_frames"] == n, (path, pr)
            assert (pr["width"], pr["height"]) == CAMERAS[key], (path, pr)
            if args.contact_sheets:
                args.contact_sheets.mkdir(parents=True, exist_ok=True)
                contact_sheet(path, args.contact_sheets / f"robot_ep{ep}_{key.split('.')[-1]}.png", n)
        episodes.append({"episode_index": ep, "tasks": [task], "length": n})
        ep_stats_lines.append({"episode_index": ep, "stats": episode_stats(cols, frames)})
        global_index += n
        print(f"episode {ep}: {n} frames, task={task!r}", file=sys.stderr)
    p.disconnect()

    features = {
        "action": {"dtype": "float32", "shape": [7], "names": JOINT_NAMES},
        "observation.state": {"dtype": "float32", "shape": [7], "names": JOINT_NAMES},
    }
    for key, (w, h) in CAMERAS.items():
        pr = probes[(0, key)]  # LeRobot fills "info" from episode 0's video (update_video_info)
        features[key] = {
            "dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
            "info": {"video.height": pr["height"], "video.width": pr["width"], "video.codec": pr["codec"],
                     "video.pix_fmt": pr["pix_fmt"], "video.is_depth_map": False, "video.fps": int(pr["fps"]),
                     "video.channels": 3, "has_audio": pr["has_audio"]},
        }
    features.update({
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "frame_index": {"dtype": "int64", "shape": [1], "names": None},
        "episode_index": {"dtype": "int64", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
        "task_index": {"dtype": "int64", "shape": [1], "names": None},
    })
    n_ep = len(EPISODE_LENGTHS)
    info = {
        "codebase_version": "v2.1",
        "robot_type": ROBOT_TYPE,
        "total_episodes": n_ep,
        "total_frames": int(sum(EPISODE_LENGTHS)),
        "total_tasks": len(tasks),
        "total_videos": n_ep * len(CAMERAS),
        "total_chunks": (n_ep - 1) // CHUNKS_SIZE + 1,
        "chunks_size": CHUNKS_SIZE,
        "fps": FPS,
        "splits": {"train": f"0:{n_ep}"},
        "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
        "features": features,
    }
    (root / "meta/info.json").write_text(json.dumps(info, indent=4, ensure_ascii=False) + "\n")
    jl = lambda rows: "".join(json.dumps(r) + "\n" for r in rows)
    (root / "meta/episodes.jsonl").write_text(jl(episodes))
    (root / "meta/tasks.jsonl").write_text(jl({"task_index": i, "task": t} for i, t in enumerate(tasks)))
    (root / "meta/episodes_stats.jsonl").write_text(jl(ep_stats_lines))
    for (ep, key), pr in sorted(probes.items()):
        print(f"{key} ep{ep}: {pr}")


if __name__ == "__main__":
    main()
