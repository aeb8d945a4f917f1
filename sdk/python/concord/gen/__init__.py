"""Code generated from proto/ by scripts/gen-python.sh. Do not edit; regenerate instead.

protoc writes modules named after the proto packages (``concord.types.v1.types_pb2``) and
the generated files import each other by those names. ``concord/__init__.py`` adds
``concord/gen/concord`` to the package path so those names resolve without editing any
generated file.
"""
