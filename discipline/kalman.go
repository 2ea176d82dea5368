package discipline

// kalman is the two-state filter on the board clock: phase θ (board minus reference, seconds) and y, the
// free-running oscillator's fractional frequency error. The applied correction u is known, so it enters as a
// control input rather than a state:
//
//	θ(t+dt) = θ(t) + y·dt + ∫u   (+ phase noise)
//	y(t+dt) = y(t)               (+ random-walk frequency noise)
//
// Process noise: random-walk FM of intensity q (the variance of y grows by q per second) and white FM of
// intensity qPhase (phase variance grows by qPhase per second). Over dt that adds
//
//	Q = q·| dt³/3  dt²/2 |  +  qPhase·| dt 0 |
//	      | dt²/2  dt    |            | 0  0 |
//
// Measurements observe θ with white noise of variance r (the PPS capture jitter).
type kalman struct {
	theta, y      float64
	p00, p01, p11 float64
	q, qPhase     float64
}

// predict moves the state dt seconds ahead; U is the integral of the applied correction over that span.
func (k *kalman) predict(dt, U float64) {
	k.theta += k.y*dt + U
	k.p00, k.p01, k.p11 = k.varAhead(dt), k.p01+k.p11*dt+k.q*dt*dt/2, k.p11+k.q*dt
}

// varAhead is the phase variance dt seconds ahead without a measurement.
func (k *kalman) varAhead(dt float64) float64 {
	return k.p00 + 2*k.p01*dt + k.p11*dt*dt + k.q*dt*dt*dt/3 + k.qPhase*dt
}

// update folds in a phase measurement z of variance r and returns the innovation.
func (k *kalman) update(z, r float64) (nu float64) {
	nu = z - k.theta
	s := k.p00 + r
	k0, k1 := k.p00/s, k.p01/s
	k.theta += k0 * nu
	k.y += k1 * nu
	// P = (I − K·H)·P, written out; p11 − k1·p01 stays positive because |p01|² ≤ p00·p11.
	k.p11 -= k1 * k.p01
	k.p00 *= r / s
	k.p01 *= r / s
	return nu
}
