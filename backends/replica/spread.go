package replica

import "context"

// spreadKey is the context key of WithSpread.
type spreadKey struct{}

// WithSpread returns ctx asking Get to start with the n-th (modulo their
// number) of the members that are up and as good as the best one (same
// priority, recent failures within the margin ordered uses), instead of
// the best one. A reader of many parts of one object spreads its streams
// over the providers this way; the other members still follow in read
// order, so failover is unchanged.
func WithSpread(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, spreadKey{}, n)
}

// spread reorders members (in read order) for a Get whose context carries
// WithSpread: the n-th of the leading equally good members goes first.
func spread(ctx context.Context, order []*member) []*member {
	n, ok := ctx.Value(spreadKey{}).(int)
	if !ok || len(order) < 2 || n <= 0 {
		return order
	}
	best := order[0]
	if !best.isUp() {
		return order
	}
	br, _ := best.score()
	k := 1
	for k < len(order) {
		m := order[k]
		r, _ := m.score()
		if !m.isUp() || m.priority != best.priority || r > br+0.5 {
			break
		}
		k++
	}
	if i := n % k; i > 0 {
		first := order[i]
		copy(order[1:i+1], order[:i])
		order[0] = first
	}
	return order
}
