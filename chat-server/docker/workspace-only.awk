# Reduces the workspace manifest (Cargo.toml at the build context root) to a workspace whose only
# member is chat-server, so the image builds chat-server alone, without the other members' sources:
# keeps the [workspace], [workspace.*] and [profile.*] tables chat-server inherits from, drops the
# root package's own tables, and drops other members' path entries from [workspace.dependencies].
# Idempotent: a manifest that is already chat-server-only comes out the same.
/^[ \t]*\[/ {
    section = $0
    sub(/[ \t]*(#.*)?$/, "", section)
    keep = (section ~ /^\[workspace[].]/ || section ~ /^\[profile[].]/)
    in_members = 0
    if (keep) print
    next
}
!keep { next }
in_members { if ($0 ~ /\]/) in_members = 0; next }
section == "[workspace]" && /^[ \t]*members[ \t]*=/ {
    print "members = [\"chat-server\"]"
    if ($0 !~ /\]/) in_members = 1
    next
}
section == "[workspace]" && /^[ \t]*default-members[ \t]*=/ { next }
section == "[workspace.dependencies]" && /path[ \t]*=/ { next }
{ print }
