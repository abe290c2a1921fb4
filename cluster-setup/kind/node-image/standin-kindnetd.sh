#!/bin/sh
# TEST STAND-IN for kindnetd, for the offline node image only (README.md). Not kindnet: the Go module
# proxy refuses kindnet, so CI runs this under kindnetd's image name so that kind's manifest runs
# unchanged. It does the least a kind cluster needs, every 10 seconds:
#   - writes this node's CNI config (ptp + host-local on the node's podCIDR, portmap for hostPorts);
#   - keeps a route to every other node's podCIDR via that node's InternalIP;
#   - masquerades traffic from Pods to anything outside the Pod range (POD_SUBNET).
# It enforces no NetworkPolicy (kube-router does, next to it). kind's `kindnet` ClusterRole lets it
# list nodes, not get one, hence the list below.
set -u
# A shell as PID 1 ignores SIGTERM unless it traps it: without this, deleting the Pod waits 30 s.
trap 'exit 0' TERM INT

node=$(hostname)
conf=/etc/cni/net.d/10-kindnet.conflist
masquerade="-s ${POD_SUBNET} ! -d ${POD_SUBNET} -m comment --comment standin-kindnetd -j MASQUERADE"

while :; do
  if nodes=$(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}'); then
    echo "$nodes" | while read -r name cidr address; do
      [ -n "$cidr" ] || continue
      if [ "$name" = "$node" ]; then
        wanted=$(printf '{"cniVersion":"0.4.0","name":"kindnet","plugins":[{"type":"ptp","ipMasq":false,"ipam":{"type":"host-local","dataDir":"/run/cni-ipam-state","routes":[{"dst":"0.0.0.0/0"}],"ranges":[[{"subnet":"%s"}]]},"mtu":1500},{"type":"portmap","capabilities":{"portMappings":true}}]}' "$cidr")
        if [ "$(cat "$conf" 2>/dev/null)" != "$wanted" ]; then
          echo "$wanted" > "$conf.tmp" && mv "$conf.tmp" "$conf" && echo "wrote $conf for $cidr"
        fi
      else
        ip route replace "$cidr" via "$address"
      fi
    done
  fi
  # shellcheck disable=SC2086
  iptables -t nat -C POSTROUTING $masquerade 2>/dev/null || iptables -t nat -A POSTROUTING $masquerade
  sleep 10 &
  wait $!
done
