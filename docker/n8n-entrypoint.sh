#!/bin/sh
# Put the Tiergate community node where n8n loads manually installed nodes from
# (<user folder>/.n8n/nodes/node_modules), then hand over to the n8n image's own entrypoint.
set -eu
nodes_dir="${N8N_USER_FOLDER:-$HOME}/.n8n/nodes/node_modules"
mkdir -p "$nodes_dir"
rm -rf "$nodes_dir/n8n-nodes-tiergate"
cp -R /opt/tiergate/n8n-nodes-tiergate "$nodes_dir/n8n-nodes-tiergate"
exec /docker-entrypoint.sh "$@"
