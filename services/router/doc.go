// Package router is Unigate's router: it classifies a scanned code,
// resolves the merchant behind it through the merchant network that owns
// the code, and resolves partners. Its routing table (partners, merchant
// networks and the EMVCo GUIDs that identify each network's codes) lives in
// etcd under Prefix and is watched, so onboarding a partner or a network
// applies without a restart.
package router
