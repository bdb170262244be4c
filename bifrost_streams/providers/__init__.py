"""Model providers behind one interface (base.Provider); choosing and retrying live in router."""
