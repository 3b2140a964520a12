// Package obix is a client for oBIX 1.0/1.1 servers (OASIS Open Building
// Information Exchange) over the REST binding with the XML encoding: building
// management gateways such as Niagara stations that front the cooling plant,
// PDUs and room sensors of a data centre.
//
// It reads points (one by one or in one batch request), discovers points by
// walking refs from the lobby, keeps watches alive and re-creates them when
// the server has expired them, backfills gaps from histories, writes values,
// and offers a collector.Source that maps points to setsuden measurements.
//
// The research notes (/work/shared/research/collection.md, section 4) list
// the spec facts and the real-world differences between servers that shape
// this package; comments cite them as "notes §4.x".
package obix
