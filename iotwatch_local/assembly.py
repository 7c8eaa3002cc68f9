"""Reading a synthesized CDK cloud assembly (``cdk.out``): its stacks, their templates and file assets."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# asset.<hash> directory -> its zip (content-addressed, so never stale)
_ZIP_CACHE: dict[str, bytes] = {}


class DeployError(RuntimeError):
    """The stack could not be deployed into the local endpoint; the message says why."""


@dataclass(frozen=True)
class StackArtifact:
    artifact_id: str
    stack_name: str
    template_path: Path
    assets_path: Path | None
    bootstrap_parameter: str | None


def read_stack_artifact(assembly_dir: Path, stack_name: str) -> StackArtifact:
    """Find a stack in ``manifest.json`` by artifact id, stack name or display name (nested assemblies too)."""
    assembly_dir = Path(assembly_dir)
    manifest_path = assembly_dir / "manifest.json"
    if not manifest_path.is_file():
        raise DeployError(f"{assembly_dir} is not a cloud assembly: no manifest.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    artifacts: dict[str, Any] = manifest.get("artifacts", {})
    stacks = {k: v for k, v in artifacts.items() if v.get("type") == "aws:cloudformation:stack"}
    for artifact_id, artifact in stacks.items():
        props = artifact.get("properties", {})
        names = {artifact_id, props.get("stackName", artifact_id), artifact.get("displayName")}
        if stack_name in names:
            assets_path = None
            for dep in artifact.get("dependencies", []):
                dep_art = artifacts.get(dep, {})
                if dep_art.get("type") == "cdk:asset-manifest":
                    assets_path = assembly_dir / dep_art["properties"]["file"]
            return StackArtifact(
                artifact_id=artifact_id,
                stack_name=props.get("stackName", artifact_id),
                template_path=assembly_dir / props["templateFile"],
                assets_path=assets_path,
                bootstrap_parameter=props.get("bootstrapStackVersionSsmParameter"),
            )
    for artifact in artifacts.values():  # stages
        if artifact.get("type") == "cdk:cloud-assembly":
            nested = assembly_dir / artifact["properties"]["directoryName"]
            try:
                return read_stack_artifact(nested, stack_name)
            except DeployError:
                continue
    available = sorted(v.get("properties", {}).get("stackName", k) for k, v in stacks.items())
    raise DeployError(f"no stack {stack_name!r} in {manifest_path}; it has: {available or 'no stacks'}")


def read_assets(assets_path: Path | None) -> dict[str, Any]:
    if assets_path is None or not assets_path.is_file():
        return {"files": {}, "dockerImages": {}}
    data: dict[str, Any] = json.loads(assets_path.read_text(encoding="utf-8"))
    return data


def function_asset_dir(assembly_dir: Path, template: Mapping[str, Any], logical_id: str) -> Path:
    """The asset directory in ``assembly_dir`` holding the code of the function ``logical_id``.

    Uses the ``aws:asset:path`` metadata CDK writes on the resource, else matches the
    function's ``Code.S3Key`` with the asset manifests' object keys.
    """
    assembly_dir = Path(assembly_dir)
    resource = template.get("Resources", {}).get(logical_id)
    if resource is None:
        raise KeyError(f"no resource {logical_id!r} in the template")
    meta_path = resource.get("Metadata", {}).get("aws:asset:path")
    candidates: list[Path] = []
    if meta_path:
        candidates.append(assembly_dir / meta_path)
    s3_key = resource.get("Properties", {}).get("Code", {}).get("S3Key")
    if isinstance(s3_key, str):
        for assets_file in sorted(assembly_dir.glob("*.assets.json")):
            for asset in read_assets(assets_file).get("files", {}).values():
                if any(d.get("objectKey") == s3_key for d in asset.get("destinations", {}).values()):
                    candidates.append(assembly_dir / asset["source"]["path"])
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    if candidates:
        raise DeployError(f"the code asset of {logical_id} is not a directory: {candidates[0]}")
    raise DeployError(f"{logical_id} has no file asset in {assembly_dir} (inline or external code?)")


def stack_names(assembly_dir: Path | str) -> list[str]:
    """Names of the stacks in a cloud assembly (top level)."""
    manifest = json.loads((Path(assembly_dir) / "manifest.json").read_text(encoding="utf-8"))
    return [
        a.get("properties", {}).get("stackName", k)
        for k, a in manifest.get("artifacts", {}).items()
        if a.get("type") == "aws:cloudformation:stack"
    ]


def asset_bytes(source: Path, packaging: str) -> bytes:
    """A file asset's bytes as the CDK CLI uploads them: a directory zipped, a file as it is."""
    if not source.exists():
        raise DeployError(f"asset source {source} does not exist")
    if packaging == "file" or (packaging != "zip" and source.is_file()):
        return source.read_bytes()
    if source.is_file():  # already a zip
        return source.read_bytes()
    # CDK stages directory assets as asset.<content hash>: the name alone identifies the content
    cache_key = str(source.resolve()) if source.name.startswith("asset.") else None
    if cache_key is not None and cache_key in _ZIP_CACHE:
        return _ZIP_CACHE[cache_key]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for path in sorted(p for p in source.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (path.stat().st_mode & 0o777 | 0o100000) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes(), compresslevel=1)
    data = buffer.getvalue()
    if cache_key is not None:
        _ZIP_CACHE[cache_key] = data
    return data
